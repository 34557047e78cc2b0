/* SPDX-License-Identifier: GPL-2.0 */
/*
 * get_random_u32_inclusive() (6.2), used by core/cma.c for the port rover:
 * a uniform u32 in [floor, ceil] by multiply-shift of get_random_u32().
 */
#include_next <linux/random.h>

#ifndef _OFED_LINUX_RANDOM_H
#define _OFED_LINUX_RANDOM_H

#ifndef HAVE_GET_RANDOM_U32_INCLUSIVE
static inline u32 ofed_get_random_u32_inclusive(u32 floor, u32 ceil)
{
	u32 span = ceil - floor + 1;

	if (!span)		/* the full u32 range */
		return get_random_u32();
	return floor + (u32)(((u64)get_random_u32() * span) >> 32);
}
#define get_random_u32_inclusive ofed_get_random_u32_inclusive
#endif

#endif /* _OFED_LINUX_RANDOM_H */
