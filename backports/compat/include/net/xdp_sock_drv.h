/* SPDX-License-Identifier: GPL-2.0 */
/* AF_XDP TX metadata (6.8): none on the target (see net/xdp_sock.h beside). */
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

#endif /* _OFED_NET_XDP_SOCK_DRV_H */
