/* SPDX-License-Identifier: GPL-2.0 */
/* AF_XDP TX metadata (6.8): the target's pools have none (see net/xdp_sock.h beside). */
#include_next <net/xsk_buff_pool.h>

#ifndef _OFED_NET_XSK_BUFF_POOL_H
#define _OFED_NET_XSK_BUFF_POOL_H

#include <net/xdp_sock.h>

#ifndef HAVE_XSK_TX_METADATA_OPS
#define XSK_TX_COMPL_FITS(t) BUILD_BUG_ON(sizeof(struct xsk_tx_metadata_compl) > sizeof(t))

static inline bool ofed_xp_tx_metadata_enabled(const struct xsk_buff_pool *pool)
{
	return false;
}
#define xp_tx_metadata_enabled ofed_xp_tx_metadata_enabled
#endif

#endif /* _OFED_NET_XSK_BUFF_POOL_H */
