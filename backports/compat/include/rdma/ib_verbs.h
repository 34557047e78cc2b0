/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ibdev_dbg() expands to dynamic debug's __dynamic_ibdev_dbg(), which lives in the target's
 * vmlinux (lib/dynamic_debug.c) and reads ibdev->dev at the target's offsets of struct
 * ib_device: with a callsite switched on (dyndbg), it would print, or fault, from the wrong
 * place in our device. Ours takes the device names from our layout and hands the line to
 * __dynamic_dev_dbg() / __dynamic_pr_debug(), whose types are the kernel's own (struct
 * device), so dyndbg's prefix flags still apply. The ABI gate (ofedtool/build/abi.py) found it.
 */
#ifndef _OFED_COMPAT_RDMA_IB_VERBS_H
#define _OFED_COMPAT_RDMA_IB_VERBS_H

#include_next <rdma/ib_verbs.h>

#ifndef OFED_CORE_RDMA_HEADERS_ARE_TARGETS
#ifdef CONFIG_DYNAMIC_DEBUG_CORE
static inline __printf(3, 4) void ofed_dynamic_ibdev_dbg(struct _ddebug *descriptor,
							  const struct ib_device *ibdev,
							  const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	if (ibdev && ibdev->dev.parent)
		__dynamic_dev_dbg(descriptor, ibdev->dev.parent, "%s: %pV", dev_name(&ibdev->dev), &vaf);
	else if (ibdev)
		__dynamic_pr_debug(descriptor, "%s: %pV", dev_name(&ibdev->dev), &vaf);
	else
		__dynamic_pr_debug(descriptor, "(NULL ib_device): %pV", &vaf);
	va_end(args);
}
#ifndef __GENKSYMS__   /* the ABI gate's pass over the target's own definition keeps its name */
#define __dynamic_ibdev_dbg ofed_dynamic_ibdev_dbg
#endif
#endif /* CONFIG_DYNAMIC_DEBUG_CORE */
#endif /* !OFED_CORE_RDMA_HEADERS_ARE_TARGETS */

#endif
