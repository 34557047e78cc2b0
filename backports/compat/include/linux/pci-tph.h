/* SPDX-License-Identifier: GPL-2.0 */
/*
 * <linux/pci-tph.h> appeared in 6.13; ib_verbs.h includes it for enum tph_mem_type
 * (the memory type of a DMA handle).  Without it, the enum is all RDMA needs: the
 * steering-tag calls are made by hardware drivers, which we do not build.
 */
#ifdef HAVE_LINUX_PCI_TPH_H
#include_next <linux/pci-tph.h>
#else
#ifndef _OFED_LINUX_PCI_TPH_H
#define _OFED_LINUX_PCI_TPH_H
enum tph_mem_type {
	TPH_MEM_TYPE_VM,	/* volatile memory */
	TPH_MEM_TYPE_PM		/* persistent memory */
};
#endif
#endif
