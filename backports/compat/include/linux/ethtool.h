/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ethtool driver API of newer kernels that X's mlx5 (Ethernet and IPoIB) is written for.
 */
#include_next <linux/ethtool.h>

#ifndef _OFED_LINUX_ETHTOOL_H
#define _OFED_LINUX_ETHTOOL_H

/*
 * struct kernel_ethtool_ts_info (6.11) is the kernel's own copy of the uapi struct
 * ethtool_ts_info that get_ts_info() filled before: the same members (tx_types and rx_filters
 * are bit masks in both), so the older ops table takes the driver's function as it is.
 */
#ifndef HAVE_ETHTOOL_KERNEL_TS_INFO
#define kernel_ethtool_ts_info ethtool_ts_info
#endif

/*
 * ethtool_puts() (6.8): one ETH_GSTRING_LEN string, and the cursor moved past it, as upstream's
 * does it (strscpy: the kernels without ethtool_sprintf, 5.13, have strscpy).
 */
#ifndef HAVE_ETHTOOL_PUTS
#include <linux/string.h>
static inline void ofed_ethtool_puts(u8 **data, const char *str)
{
	strscpy(*data, str, ETH_GSTRING_LEN);
	*data += ETH_GSTRING_LEN;
}
#define ethtool_puts ofed_ethtool_puts
#endif

/*
 * struct ethtool_rxfh_param (6.8): get_rxfh()/set_rxfh() take their arguments in one struct
 * (and the RSS context in it). Before, they were separate arguments, with the RSS contexts in
 * get_rxfh_context()/set_rxfh_context(): the driver's ops are wrapped in the older form
 * beside its table (patches/.../mlx5/core/en_ethtool.c.patch) and fill this struct.
 */
#ifndef HAVE_ETHTOOL_RXFH_PARAM
struct ethtool_rxfh_param {
	u8	hfunc;
	u32	indir_size;
	u32	*indir;
	u32	key_size;
	u8	*key;
	u32	rss_context;
	u8	rss_delete;
	u8	input_xfrm;
};
#endif

/*
 * Statistics groups the target's ethtool cannot ask for: get_ts_stats() (6.10, timestamping
 * counters) and get_link_ext_stats() (6.3, link-down events). The driver's fillers still
 * compile against these structs; its ops table leaves the callbacks out there.
 */
#ifndef HAVE_ETHTOOL_TS_STATS
struct ethtool_ts_stats {
	u64 pkts;
	u64 lost;
	u64 err;
};
#endif

#ifndef HAVE_ETHTOOL_LINK_EXT_STATS
struct ethtool_link_ext_stats {
	u64 link_down_events;
};
#endif

#endif /* _OFED_LINUX_ETHTOOL_H */
