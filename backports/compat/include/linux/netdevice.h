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

#endif /* _OFED_LINUX_NETDEVICE_H */
