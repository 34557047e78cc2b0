/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ibdev_dbg() expands to dynamic debug's __dynamic_ibdev_dbg(), which lives in the target's
 * vmlinux (lib/dynamic_debug.c) and reads ibdev->dev at the target's offsets of struct
 * ib_device: with a callsite switched on (dyndbg), it would print, or fault, from the wrong
 * place in our device. Ours takes the device names from our layout and hands the line to
 * __dynamic_dev_dbg() / __dynamic_pr_debug(), whose types are the kernel's own (struct
 * device), so dyndbg's prefix flags still apply. The ABI gate (ofedtool/build/abi.py) found it.
 */
#ifndef _OFED_COMPAT_RDMA_IB_VERBS_H
#define _OFED_COMPAT_RDMA_IB_VERBS_H

#include_next <rdma/ib_verbs.h>

#ifndef OFED_CORE_RDMA_HEADERS_ARE_TARGETS
#ifdef CONFIG_DYNAMIC_DEBUG_CORE
static inline __printf(3, 4) void ofed_dynamic_ibdev_dbg(struct _ddebug *descriptor,
							  const struct ib_device *ibdev,
							  const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	if (ibdev && ibdev->dev.parent)
		__dynamic_dev_dbg(descriptor, ibdev->dev.parent, "%s: %pV", dev_name(&ibdev->dev), &vaf);
	else if (ibdev)
		__dynamic_pr_debug(descriptor, "%s: %pV", dev_name(&ibdev->dev), &vaf);
	else
		__dynamic_pr_debug(descriptor, "(NULL ib_device): %pV", &vaf);
	va_end(args);
}
#ifndef __GENKSYMS__   /* the ABI gate's pass over the target's own definition keeps its name */
#define __dynamic_ibdev_dbg ofed_dynamic_ibdev_dbg
#endif
#endif /* CONFIG_DYNAMIC_DEBUG_CORE */
#endif /* !OFED_CORE_RDMA_HEADERS_ARE_TARGETS */

/*
 * Y's hardware drivers set the kernel-only capabilities in device_cap_flags as IB_DEVICE_*;
 * our core reads them from kernel_cap_flags as IBK_* (5.19). The old names keep their old
 * bits (free in our core's device_cap_flags, which userspace sees), and the query_device
 * wrapper of the ib-kernel-cap-flags-provider-5.19 shim moves them across after the
 * driver's own query_device. CROSS_CHANNEL has no IBK_ (no kernel user): it is dropped.
 */
#if defined(OFED_TARGET_RULE) && defined(OFED_CORE_IBK_CAP_FLAGS) && !defined(HAVE_IBK_CAP_FLAGS)
#define IB_DEVICE_LOCAL_DMA_LKEY		(1ULL << 15)
#define IB_DEVICE_UD_TSO			(1ULL << 19)
#define IB_DEVICE_BLOCK_MULTICAST_LOOPBACK	(1ULL << 22)
#define IB_DEVICE_CROSS_CHANNEL			(1ULL << 27)
#define IB_DEVICE_INTEGRITY_HANDOVER		(1ULL << 30)
#define IB_DEVICE_ON_DEMAND_PAGING		(1ULL << 31)
#define IB_DEVICE_SG_GAPS_REG			(1ULL << 32)
#define IB_DEVICE_VIRTUAL_FUNCTION		(1ULL << 33)
#define IB_DEVICE_RDMA_NETDEV_OPA		(1ULL << 35)
#define IB_DEVICE_ALLOW_USER_UNREG		(1ULL << 37)

static inline void ofed_ib_kernel_caps_from_device(struct ib_device_attr *attr)
{
	static const struct { u64 old; u64 ibk; } map[] = {
		{ IB_DEVICE_LOCAL_DMA_LKEY, IBK_LOCAL_DMA_LKEY },
		{ IB_DEVICE_UD_TSO, IBK_UD_TSO },
		{ IB_DEVICE_BLOCK_MULTICAST_LOOPBACK, IBK_BLOCK_MULTICAST_LOOPBACK },
		{ IB_DEVICE_CROSS_CHANNEL, 0 },
		{ IB_DEVICE_INTEGRITY_HANDOVER, IBK_INTEGRITY_HANDOVER },
		{ IB_DEVICE_ON_DEMAND_PAGING, IBK_ON_DEMAND_PAGING },
		{ IB_DEVICE_SG_GAPS_REG, IBK_SG_GAPS_REG },
		{ IB_DEVICE_VIRTUAL_FUNCTION, IBK_VIRTUAL_FUNCTION },
		{ IB_DEVICE_RDMA_NETDEV_OPA, IBK_RDMA_NETDEV_OPA },
		{ IB_DEVICE_ALLOW_USER_UNREG, IBK_ALLOW_USER_UNREG },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(map); i++) {
		if (!(attr->device_cap_flags & map[i].old))
			continue;
		attr->device_cap_flags &= ~map[i].old;
		attr->kernel_cap_flags |= map[i].ibk;
	}
}
#endif

/*
 * rdma_set_device_sysfs_group() set ib_device.groups[1]; our core fills groups[1] from
 * ops.device_group at registration (5.15), overwriting it: Y's drivers that call it before
 * ib_register_device() hand the group to the ops instead.
 */
#if defined(OFED_TARGET_RULE) && defined(OFED_CORE_IB_OPS_DEVICE_GROUP) && \
	defined(HAVE_RDMA_SET_DEVICE_SYSFS_GROUP)
static inline void ofed_rdma_set_device_sysfs_group(struct ib_device *dev,
						    const struct attribute_group *group)
{
	dev->ops.device_group = group;
}
#define rdma_set_device_sysfs_group ofed_rdma_set_device_sysfs_group
#endif

/*
 * rdma_alloc_hw_stats_struct() takes an array of struct rdma_stat_desc (5.16) instead of Y's
 * array of names. Ours builds the descriptors from the names in the stats' own allocation,
 * after value[], so our core's rdma_free_hw_stats_struct() (is_disabled, then the block)
 * frees them with it and nothing outlives the stats or leaks.
 */
#if defined(OFED_TARGET_RULE) && defined(OFED_CORE_RDMA_STAT_DESC) && !defined(HAVE_RDMA_STAT_DESC)
static inline struct rdma_hw_stats *
ofed_rdma_alloc_hw_stats_struct(const char * const *names, int num_counters,
				unsigned long lifespan)
{
	struct rdma_stat_desc *descs;
	struct rdma_hw_stats *stats;
	int i;

	stats = kzalloc(struct_size(stats, value, num_counters) +
			num_counters * sizeof(*descs), GFP_KERNEL);
	if (!stats)
		return NULL;
	stats->is_disabled = kcalloc(BITS_TO_LONGS(num_counters),
				     sizeof(*stats->is_disabled), GFP_KERNEL);
	if (!stats->is_disabled) {
		kfree(stats);
		return NULL;
	}
	descs = (struct rdma_stat_desc *)&stats->value[num_counters];
	for (i = 0; i < num_counters; i++)
		descs[i].name = names[i];
	stats->descs = descs;
	stats->num_counters = num_counters;
	stats->lifespan = msecs_to_jiffies(lifespan);
	mutex_init(&stats->lock);
	return stats;
}
#define rdma_alloc_hw_stats_struct ofed_rdma_alloc_hw_stats_struct
#endif

/*
 * ib_is_destroy_retryable() and ib_destroy_usecnt() went (5.13): our core retries every failed
 * destroy of a uobject when the FD closes, so a driver returns any error it has, as upstream's
 * drivers do since.
 */
#if defined(OFED_TARGET_RULE) && !defined(OFED_CORE_IB_IS_DESTROY_RETRYABLE) && \
	defined(HAVE_IB_IS_DESTROY_RETRYABLE)
static inline bool ofed_ib_is_destroy_retryable(int ret, enum rdma_remove_reason why,
						struct ib_uobject *uobj)
{
	return ret;
}
#define ib_is_destroy_retryable ofed_ib_is_destroy_retryable

static inline int ofed_ib_destroy_usecnt(atomic_t *usecnt, enum rdma_remove_reason why,
					 struct ib_uobject *uobj)
{
	return atomic_read(usecnt) ? -EBUSY : 0;
}
#define ib_destroy_usecnt ofed_ib_destroy_usecnt
#endif

#endif
