/* SPDX-License-Identifier: GPL-2.0 */
/*
 * struct phys_vec (6.19): a physical address range, embedded by uverbs' dma-buf file.
 */
#include_next <linux/types.h>

#ifndef _OFED_LINUX_TYPES_H
#define _OFED_LINUX_TYPES_H
#ifndef HAVE_STRUCT_PHYS_VEC
struct phys_vec {
	phys_addr_t	paddr;
	size_t		len;
};
#endif
#endif
