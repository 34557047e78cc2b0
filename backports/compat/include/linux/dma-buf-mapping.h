/* SPDX-License-Identifier: GPL-2.0 */
/*
 * <linux/dma-buf-mapping.h> (6.19): helpers for exporters of MMIO ranges
 * (dma_buf_phys_vec_to_sgt()).  uverbs' dma-buf export object is the only user and is
 * compiled out without them (patches/drivers/infiniband/core/uverbs_std_types_dmabuf.c.patch).
 */
#ifdef HAVE_LINUX_DMA_BUF_MAPPING_H
#include_next <linux/dma-buf-mapping.h>
#else
#include <linux/dma-buf.h>
#endif
