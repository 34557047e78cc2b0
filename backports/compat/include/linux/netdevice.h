/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netdevice_tracker (5.17) and netdev_hold()/netdev_put() (6.0), used by
 * core/device.c and include/rdma/ib_verbs.h.  Without reference tracking the
 * tracker is an empty struct (as upstream without CONFIG_NET_DEV_REFCNT_TRACKER)
 * and hold/put are the plain, NULL-tolerant refcount operations.
 */
#include_next <linux/netdevice.h>

#ifndef _OFED_LINUX_NETDEVICE_H
#define _OFED_LINUX_NETDEVICE_H

#ifndef HAVE_NETDEVICE_TRACKER
typedef struct {} netdevice_tracker;
#endif

#ifndef HAVE_NETDEV_HOLD
static inline void ofed_netdev_hold(struct net_device *dev,
				    netdevice_tracker *tracker, gfp_t gfp)
{
	if (dev)
		dev_hold(dev);
}

static inline void ofed_netdev_put(struct net_device *dev,
				   netdevice_tracker *tracker)
{
	if (dev)
		dev_put(dev);
}
#define netdev_hold ofed_netdev_hold
#define netdev_put ofed_netdev_put
#endif

/*
 * netif_get_flags() (after 6.12) is the new name of dev_get_flags() (rxe reads IFF_UP).
 */
#ifndef HAVE_NETIF_GET_FLAGS
#define netif_get_flags dev_get_flags
#endif

/*
 * XDP feature flags (6.3): what a netdev's XDP supports, reported over netdev netlink. The
 * target has no such report, so the driver's flags are computed and kept nowhere.
 */
#ifndef HAVE_XDP_FEATURES
typedef u32 xdp_features_t;
enum {
	NETDEV_XDP_ACT_BASIC = 1,
	NETDEV_XDP_ACT_REDIRECT = 2,
	NETDEV_XDP_ACT_NDO_XMIT = 4,
	NETDEV_XDP_ACT_XSK_ZEROCOPY = 8,
	NETDEV_XDP_ACT_HW_OFFLOAD = 16,
	NETDEV_XDP_ACT_RX_SG = 32,
	NETDEV_XDP_ACT_NDO_XMIT_SG = 64,
};
static inline void ofed_xdp_set_features_flag(struct net_device *dev, xdp_features_t val) {}
static inline void ofed_xdp_clear_features_flag(struct net_device *dev) {}
#define xdp_set_features_flag ofed_xdp_set_features_flag
#define xdp_clear_features_flag ofed_xdp_clear_features_flag
#endif

/*
 * netif_queue_set_napi() and netif_napi_set_irq() (6.8) record which NAPI serves a queue and
 * which IRQ a NAPI runs on, for netdev netlink's queue/napi dump only (the target has none).
 */
#ifndef HAVE_NETIF_QUEUE_SET_NAPI
enum netdev_queue_type {
	NETDEV_QUEUE_TYPE_RX,
	NETDEV_QUEUE_TYPE_TX,
};
static inline void ofed_netif_queue_set_napi(struct net_device *dev, unsigned int queue_index,
					     enum netdev_queue_type type, struct napi_struct *napi) {}
#define netif_queue_set_napi ofed_netif_queue_set_napi
#endif

#ifndef HAVE_NETIF_NAPI_SET_IRQ
static inline void ofed_netif_napi_set_irq(struct napi_struct *napi, int irq) {}
#define netif_napi_set_irq ofed_netif_napi_set_irq
#endif

#endif /* _OFED_LINUX_NETDEVICE_H */
