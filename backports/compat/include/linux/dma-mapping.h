/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dma_pci_p2pdma_supported() (5.15), used by ib_dma_pci_p2p_dma_supported() in
 * include/rdma/ib_verbs.h.  Before it the DMA layer had no way to say whether
 * PCI peer-to-peer DMA works through it: answer no (ULPs then do not use P2P
 * memory).
 *
 * The IOVA API (struct dma_iova_state, dma_iova_try_alloc() ..., 6.17): the RDMA R/W
 * API tries it first and falls back to scatterlists when dma_iova_try_alloc() says
 * no.  Without it, always say no, exactly as the kernel's own !CONFIG_IOMMU_DMA stubs.
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

#ifndef HAVE_DMA_IOVA_TRY_ALLOC
struct dma_iova_state {
	dma_addr_t addr;
	u64 __size;
};

static inline bool ofed_dma_use_iova(struct dma_iova_state *state)
{
	return false;
}
#define dma_use_iova ofed_dma_use_iova

static inline bool ofed_dma_iova_try_alloc(struct device *dev, struct dma_iova_state *state,
					   phys_addr_t phys, size_t size)
{
	return false;
}
#define dma_iova_try_alloc ofed_dma_iova_try_alloc

static inline void ofed_dma_iova_free(struct device *dev, struct dma_iova_state *state)
{
}
#define dma_iova_free ofed_dma_iova_free

static inline void ofed_dma_iova_destroy(struct device *dev, struct dma_iova_state *state,
					 size_t mapped_len, enum dma_data_direction dir,
					 unsigned long attrs)
{
}
#define dma_iova_destroy ofed_dma_iova_destroy

static inline int ofed_dma_iova_sync(struct device *dev, struct dma_iova_state *state,
				     size_t offset, size_t size)
{
	return -EOPNOTSUPP;
}
#define dma_iova_sync ofed_dma_iova_sync

static inline int ofed_dma_iova_link(struct device *dev, struct dma_iova_state *state,
				     phys_addr_t phys, size_t offset, size_t size,
				     enum dma_data_direction dir, unsigned long attrs)
{
	return -EOPNOTSUPP;
}
#define dma_iova_link ofed_dma_iova_link

static inline void ofed_dma_iova_unlink(struct device *dev, struct dma_iova_state *state,
					size_t offset, size_t size,
					enum dma_data_direction dir, unsigned long attrs)
{
}
#define dma_iova_unlink ofed_dma_iova_unlink
#endif

/*
 * DMA_ATTR_REQUIRE_COHERENT (after 6.12): fail instead of bouncing through swiotlb.  Before
 * it there is no such request to make; mapping without it is what older cores did.
 */
#ifndef DMA_ATTR_REQUIRE_COHERENT
#define DMA_ATTR_REQUIRE_COHERENT 0
#endif

/*
 * dma_map_phys()/dma_unmap_phys() (6.17): map by physical address.  Every address the
 * RDMA core passes is RAM with a struct page, so the page-based calls do the same.
 */
#ifndef HAVE_DMA_MAP_PHYS
static inline dma_addr_t ofed_dma_map_phys(struct device *dev, phys_addr_t phys, size_t size,
					   enum dma_data_direction dir, unsigned long attrs)
{
	return dma_map_page_attrs(dev, pfn_to_page(PHYS_PFN(phys)), offset_in_page(phys), size, dir,
				  attrs);
}
#define dma_map_phys ofed_dma_map_phys

static inline void ofed_dma_unmap_phys(struct device *dev, dma_addr_t addr, size_t size,
				       enum dma_data_direction dir, unsigned long attrs)
{
	dma_unmap_page_attrs(dev, addr, size, dir, attrs);
}
#define dma_unmap_phys ofed_dma_unmap_phys
#endif

/*
 * dma_dev_need_sync() (6.10): whether any mapping of the device needs syncing. Without it, say
 * yes: the driver then syncs each buffer, which costs nothing where the mapping is coherent.
 */
#ifndef HAVE_DMA_DEV_NEED_SYNC
static inline bool ofed_dma_dev_need_sync(const struct device *dev)
{
	return true;
}
#define dma_dev_need_sync ofed_dma_dev_need_sync
#endif

#endif /* _OFED_LINUX_DMA_MAPPING_H */
