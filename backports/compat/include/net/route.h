/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dst_rtable() of 6.10: dst_entry -> rtable (dst is rtable's first member;
 * older kernels cast).  container_of keeps this independent of container_of_const.
 */
#include_next <net/route.h>

#ifndef _OFED_NET_ROUTE_H
#define _OFED_NET_ROUTE_H

#ifndef HAVE_DST_RTABLE
#define dst_rtable(_ptr) container_of(_ptr, struct rtable, dst)
#endif

#endif /* _OFED_NET_ROUTE_H */
