/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dst_rt6_info() of 6.10 (also in later 6.1.y): dst_entry -> rt6_info (dst is
 * rt6_info's first member; older kernels cast).  Used by core/addr.c.
 */
#include_next <net/ip6_fib.h>

#ifndef _OFED_NET_IP6_FIB_H
#define _OFED_NET_IP6_FIB_H

#ifndef HAVE_DST_RT6_INFO
#define dst_rt6_info(_ptr) container_of(_ptr, struct rt6_info, dst)
#endif

#endif /* _OFED_NET_IP6_FIB_H */
