/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dma_pci_p2pdma_supported() (5.15), used by ib_dma_pci_p2p_dma_supported() in
 * include/rdma/ib_verbs.h.  Before it the DMA layer had no way to say whether
 * PCI peer-to-peer DMA works through it: answer no (ULPs then do not use P2P
 * memory).
 */
#include_next <linux/dma-mapping.h>

#ifndef _OFED_LINUX_DMA_MAPPING_H
#define _OFED_LINUX_DMA_MAPPING_H

#ifndef HAVE_DMA_PCI_P2PDMA_SUPPORTED
static inline bool ofed_dma_pci_p2pdma_supported(struct device *dev)
{
	return false;
}
#define dma_pci_p2pdma_supported ofed_dma_pci_p2pdma_supported
#endif

#endif /* _OFED_LINUX_DMA_MAPPING_H */
