/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _OFED_COMPAT_NET_NET_NAMESPACE_H
#define _OFED_COMPAT_NET_NET_NAMESPACE_H

#include_next <net/net_namespace.h>

/* Y's own code (OFED_TARGET_RULE: smc, rds_rdma) is written for the target's API, terminators
 * and all: only X's code needs the copy below. */
#if !defined(HAVE_REGISTER_NET_SYSCTL_SZ) && !defined(OFED_TARGET_RULE)
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysctl.h>

/*
 * Upstream 6.11 dropped the empty entry that ended every sysctl table, relying on the size
 * that register_net_sysctl_sz() (6.6) passes. An older kernel walks the table until it finds
 * that entry: it reads past our arrays, fails "sysctl table check" and the module does not
 * load (iw_cm, rdma_ucm). Compiles fine, breaks at insmod, so it is fixed here for every
 * table: register a copy with the terminator put back, and free it on unregister.
 */
static inline struct ctl_table_header *
ofed_register_net_sysctl(struct net *net, const char *path, struct ctl_table *table, size_t n)
{
	struct ctl_table *copy = kcalloc(n + 1, sizeof(*table), GFP_KERNEL);
	struct ctl_table_header *hdr;

	if (!copy)
		return NULL;
	memcpy(copy, table, n * sizeof(*table));
	hdr = register_net_sysctl(net, path, copy);
	if (!hdr)
		kfree(copy);
	return hdr;
}

static inline void ofed_unregister_net_sysctl_table(struct ctl_table_header *hdr)
{
	struct ctl_table *copy = hdr ? hdr->ctl_table_arg : NULL;

	unregister_net_sysctl_table(hdr);
	kfree(copy);
}

#define register_net_sysctl(net, path, table) \
	ofed_register_net_sysctl(net, path, table, ARRAY_SIZE(table))
#define unregister_net_sysctl_table(hdr) ofed_unregister_net_sysctl_table(hdr)
#endif /* !HAVE_REGISTER_NET_SYSCTL_SZ && !OFED_TARGET_RULE */

#endif /* _OFED_COMPAT_NET_NET_NAMESPACE_H */
