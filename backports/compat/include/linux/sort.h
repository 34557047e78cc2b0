/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cmp_int() (three-way compare of two integers) moved into <linux/sort.h> after 6.12;
 * core/frmr_pools.c sorts its keys with it.
 */
#include_next <linux/sort.h>

#ifndef cmp_int
#define cmp_int(l, r) (((l) > (r)) - ((l) < (r)))
#endif
