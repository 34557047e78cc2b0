/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-queue statistics for netdev netlink (struct netdev_stat_ops, 6.10): the target's netdev
 * has no stat_ops to ask, so the driver's callbacks compile against these structs and its
 * netdev does not point at them (patches/.../mlx5/core/en_main.c.patch).
 */
#include_next <net/netdev_queues.h>

#ifndef _OFED_NET_NETDEV_QUEUES_H
#define _OFED_NET_NETDEV_QUEUES_H

#ifndef HAVE_NETDEV_STAT_OPS
struct netdev_queue_stats_rx {
	u64 bytes;
	u64 packets;
	u64 alloc_fail;
	u64 hw_drops;
	u64 hw_drop_overruns;
	u64 csum_unnecessary;
	u64 csum_none;
	u64 csum_bad;
	u64 hw_gro_packets;
	u64 hw_gro_bytes;
	u64 hw_gro_wire_packets;
	u64 hw_gro_wire_bytes;
	u64 hw_drop_ratelimits;
};

struct netdev_queue_stats_tx {
	u64 bytes;
	u64 packets;
	u64 hw_drops;
	u64 hw_drop_errors;
	u64 csum_none;
	u64 needs_csum;
	u64 hw_gso_packets;
	u64 hw_gso_bytes;
	u64 hw_gso_wire_packets;
	u64 hw_gso_wire_bytes;
	u64 hw_drop_ratelimits;
	u64 stop;
	u64 wake;
};

struct netdev_stat_ops {
	void (*get_queue_stats_rx)(struct net_device *dev, int idx, struct netdev_queue_stats_rx *stats);
	void (*get_queue_stats_tx)(struct net_device *dev, int idx, struct netdev_queue_stats_tx *stats);
	void (*get_base_stats)(struct net_device *dev, struct netdev_queue_stats_rx *rx,
			       struct netdev_queue_stats_tx *tx);
};
#endif

#endif /* _OFED_NET_NETDEV_QUEUES_H */
