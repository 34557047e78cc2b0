/* SPDX-License-Identifier: GPL-2.0 */
/*
 * udp_set_len_short()/udp_get_len_short() (after 6.12): the UDP length of a datagram
 * that is never a BIG TCP/GSO super-packet, as RoCEv2 packets never are.
 */
#include_next <linux/udp.h>

#ifndef _OFED_LINUX_UDP_H
#define _OFED_LINUX_UDP_H
#ifndef HAVE_UDP_SET_LEN_SHORT
static inline unsigned int ofed_udp_get_len_short(const struct udphdr *uh)
{
	return ntohs(uh->len);
}
#define udp_get_len_short ofed_udp_get_len_short

static inline void ofed_udp_set_len_short(struct udphdr *uh, unsigned int len)
{
	uh->len = htons(len);
}
#define udp_set_len_short ofed_udp_set_len_short
#endif
#endif
