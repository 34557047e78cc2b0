/* SPDX-License-Identifier: GPL-2.0 */
/*
 * <linux/hmm-dma.h> (6.17) keeps an ODP umem's PFN list and its DMA addresses.
 *
 * Without it there is no generic HMM DMA mapping in the target kernel, and writing one
 * would also need hmm_range_fault() to preserve HMM_PFN_DMA_MAPPED across faults, which
 * older kernels do not do.  So the map holds only the PFN list: enough for the virtual-DMA
 * devices we build (rxe reads pages through the PFN list and never DMA-maps), while a
 * device that would DMA-map ODP pages gets -EOPNOTSUPP at registration instead of a
 * half-working mapping.
 */
#ifdef HAVE_LINUX_HMM_DMA_H
#include_next <linux/hmm-dma.h>
#else
#ifndef _OFED_LINUX_HMM_DMA_H
#define _OFED_LINUX_HMM_DMA_H

#include <linux/dma-mapping.h>
#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/slab.h>

#ifndef HAVE_HMM_PFN_DMA_MAPPED
/* A flag bit the target's hmm_range_fault() never sets; nothing here sets it either. */
#define HMM_PFN_DMA_MAPPED (1UL << (BITS_PER_LONG - 4))
#endif

struct pci_p2pdma_map_state;

struct hmm_dma_map {
	unsigned long *pfn_list;
	dma_addr_t *dma_list;
	size_t dma_entry_size;
};

static inline int ofed_hmm_dma_map_alloc(struct device *dev, struct hmm_dma_map *map,
					 size_t nr_entries, size_t dma_entry_size)
{
	return -EOPNOTSUPP;
}
#define hmm_dma_map_alloc ofed_hmm_dma_map_alloc

static inline void ofed_hmm_dma_map_free(struct device *dev, struct hmm_dma_map *map)
{
	kvfree(map->pfn_list);
	kvfree(map->dma_list);
}
#define hmm_dma_map_free ofed_hmm_dma_map_free

static inline dma_addr_t ofed_hmm_dma_map_pfn(struct device *dev, struct hmm_dma_map *map,
					      size_t idx,
					      struct pci_p2pdma_map_state *p2pdma_state)
{
	return DMA_MAPPING_ERROR;
}
#define hmm_dma_map_pfn ofed_hmm_dma_map_pfn

/* Nothing is ever DMA-mapped (see above), so there is never anything to unmap. */
static inline bool ofed_hmm_dma_unmap_pfn(struct device *dev, struct hmm_dma_map *map,
					  size_t idx)
{
	return false;
}
#define hmm_dma_unmap_pfn ofed_hmm_dma_unmap_pfn

#endif
#endif
