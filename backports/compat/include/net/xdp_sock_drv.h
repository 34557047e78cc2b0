/* SPDX-License-Identifier: GPL-2.0 */
/* AF_XDP TX metadata (6.8): none on the target (see net/xdp_sock.h beside). One-argument
 * xsk_buff_dma_sync_for_cpu() (6.10). */
#include_next <net/xdp_sock_drv.h>

#ifndef _OFED_NET_XDP_SOCK_DRV_H
#define _OFED_NET_XDP_SOCK_DRV_H

#include <net/xdp_sock.h>

#ifndef HAVE_XSK_TX_METADATA_OPS
static inline struct xsk_tx_metadata *ofed_xsk_buff_get_metadata(struct xsk_buff_pool *pool,
								 u64 addr, u32 options)
{
	return NULL;
}
#define xsk_buff_get_metadata ofed_xsk_buff_get_metadata
#endif

/* 6.10 dropped the pool argument: an XSK buffer knows its pool (xdp_buff_xsk.pool). */
#ifndef HAVE_XSK_BUFF_DMA_SYNC_FOR_CPU_1ARG
static inline void ofed_xsk_buff_dma_sync_for_cpu(struct xdp_buff *xdp)
{
#ifdef CONFIG_XDP_SOCKETS
	xsk_buff_dma_sync_for_cpu(xdp, container_of(xdp, struct xdp_buff_xsk, xdp)->pool);
#else
	xsk_buff_dma_sync_for_cpu(xdp, NULL);
#endif
}
#define xsk_buff_dma_sync_for_cpu ofed_xsk_buff_dma_sync_for_cpu
#endif

#endif /* _OFED_NET_XDP_SOCK_DRV_H */
