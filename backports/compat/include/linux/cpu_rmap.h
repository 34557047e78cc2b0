/* SPDX-License-Identifier: GPL-2.0 */
/*
 * irq_cpu_rmap_remove() (6.3) takes one IRQ out of a CPU reverse map, and came with the
 * change that lets the map's entries go one by one (free_irq_cpu_rmap() skipping removed
 * ones). Without both, an IRQ cannot leave a map before the whole map is freed, so X's mlx5
 * keeps no map there (patches/.../mlx5/core/eq.c.patch; accelerated RFS is off,
 * backports/modules.toml) and this is never reached.
 */
#include_next <linux/cpu_rmap.h>

#ifndef _OFED_LINUX_CPU_RMAP_H
#define _OFED_LINUX_CPU_RMAP_H

#ifndef HAVE_IRQ_CPU_RMAP_REMOVE
static inline int ofed_irq_cpu_rmap_remove(struct cpu_rmap *rmap, int irq)
{
	WARN_ON_ONCE(1);
	return -EOPNOTSUPP;
}
#define irq_cpu_rmap_remove ofed_irq_cpu_rmap_remove
#endif

#endif /* _OFED_LINUX_CPU_RMAP_H */
