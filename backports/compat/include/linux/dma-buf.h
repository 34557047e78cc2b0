/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dma_buf_move_notify() became dma_buf_invalidate_mappings(), and dma_buf_attach_ops'
 * move_notify became invalidate_mappings, after 6.12: tell the importers that the
 * exporter's backing store moved or went away.  Same calls, new names.
 */
#include_next <linux/dma-buf.h>

#ifndef _OFED_LINUX_DMA_BUF_H
#define _OFED_LINUX_DMA_BUF_H
#ifndef HAVE_DMA_BUF_INVALIDATE_MAPPINGS
#define dma_buf_invalidate_mappings dma_buf_move_notify
#endif
#ifndef HAVE_DMA_BUF_ATTACH_OPS_INVALIDATE_MAPPINGS
#define invalidate_mappings move_notify
#endif
#endif
