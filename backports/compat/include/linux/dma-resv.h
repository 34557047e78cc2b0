/* SPDX-License-Identifier: GPL-2.0 */
/*
 * enum dma_resv_usage and dma_resv_wait_timeout(obj, usage, ...) (5.19), used by
 * core/umem_dmabuf.c.  Before 5.19 a reservation object had one exclusive
 * (writer/kernel) fence and shared (reader) fences, and the wait took a
 * wait_all flag: KERNEL/WRITE usage waits for the exclusive fence only,
 * READ/BOOKKEEP for all.  The wait was dma_resv_wait_timeout_rcu() until 5.14.
 */
#include_next <linux/dma-resv.h>

#ifndef _OFED_LINUX_DMA_RESV_H
#define _OFED_LINUX_DMA_RESV_H

#ifndef HAVE_DMA_RESV_USAGE
enum dma_resv_usage {
	DMA_RESV_USAGE_KERNEL,
	DMA_RESV_USAGE_WRITE,
	DMA_RESV_USAGE_READ,
	DMA_RESV_USAGE_BOOKKEEP
};

static inline long ofed_dma_resv_wait_timeout(struct dma_resv *obj,
					      enum dma_resv_usage usage,
					      bool intr, unsigned long timeout)
{
	bool wait_all = usage >= DMA_RESV_USAGE_READ;

#ifdef HAVE_DMA_RESV_WAIT_TIMEOUT
	return dma_resv_wait_timeout(obj, wait_all, intr, timeout);
#else
	return dma_resv_wait_timeout_rcu(obj, wait_all, intr, timeout);
#endif
}
#define dma_resv_wait_timeout ofed_dma_resv_wait_timeout
#endif

#endif /* _OFED_LINUX_DMA_RESV_H */
