/* SPDX-License-Identifier: GPL-2.0 */
/*
 * secs_to_jiffies() (6.13): seconds to jiffies.  core/frmr_pools.c ages its pools with it.
 */
#include_next <linux/jiffies.h>

#ifndef secs_to_jiffies
#define secs_to_jiffies(_secs) ((unsigned long)((_secs) * HZ))
#endif
