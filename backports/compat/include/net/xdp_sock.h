/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AF_XDP TX metadata (6.8): a frame may ask for a TX timestamp or checksum offload through
 * metadata ahead of its data, which the driver serves through struct xsk_tx_metadata_ops.
 * The target's AF_XDP carries no such metadata, so this is what newer kernels define without
 * CONFIG_XDP_SOCKETS: no metadata is ever handed to the driver (xsk_buff_get_metadata()
 * returns NULL, net/xdp_sock_drv.h) and its hooks are never called.
 */
#include_next <net/xdp_sock.h>

#ifndef _OFED_NET_XDP_SOCK_H
#define _OFED_NET_XDP_SOCK_H

#ifndef HAVE_XSK_TX_METADATA_OPS
struct xsk_tx_metadata;

struct xsk_tx_metadata_compl {
	__u64 *tx_timestamp;
};

struct xsk_tx_metadata_ops {
	void	(*tmo_request_timestamp)(void *priv);
	u64	(*tmo_fill_timestamp)(void *priv);
	void	(*tmo_request_checksum)(u16 csum_start, u16 csum_offset, void *priv);
};

static inline void ofed_xsk_tx_metadata_to_compl(struct xsk_tx_metadata *meta,
						 struct xsk_tx_metadata_compl *compl)
{
}

static inline void ofed_xsk_tx_metadata_request(const struct xsk_tx_metadata *meta,
						const struct xsk_tx_metadata_ops *ops, void *priv)
{
}

static inline void ofed_xsk_tx_metadata_complete(struct xsk_tx_metadata_compl *compl,
						 const struct xsk_tx_metadata_ops *ops, void *priv)
{
}
#define xsk_tx_metadata_to_compl ofed_xsk_tx_metadata_to_compl
#define xsk_tx_metadata_request ofed_xsk_tx_metadata_request
#define xsk_tx_metadata_complete ofed_xsk_tx_metadata_complete
#endif

#endif /* _OFED_NET_XDP_SOCK_H */
