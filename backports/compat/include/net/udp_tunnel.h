/* SPDX-License-Identifier: GPL-2.0 */
/*
 * setup_udp_tunnel_sock() and udp_tunnel_sock_release() take the struct sock after 6.12, and
 * our rxe passes it (OFED_CORE_UDP_TUNNEL_SK).  Before, they take its struct socket: a kernel
 * socket made by udp_sock_create() always has one, sk->sk_socket.  An older rxe (6.12's)
 * passes the socket itself and needs nothing here.
 */
#include_next <net/udp_tunnel.h>

#ifndef _OFED_NET_UDP_TUNNEL_H
#define _OFED_NET_UDP_TUNNEL_H
#if !defined(HAVE_UDP_TUNNEL_SOCK_RELEASE_SK) && defined(OFED_CORE_UDP_TUNNEL_SK)
static inline void ofed_setup_udp_tunnel_sock(struct net *net, struct sock *sk,
					      struct udp_tunnel_sock_cfg *cfg)
{
	setup_udp_tunnel_sock(net, sk->sk_socket, cfg);
}
#define setup_udp_tunnel_sock ofed_setup_udp_tunnel_sock

static inline void ofed_udp_tunnel_sock_release(struct sock *sk)
{
	udp_tunnel_sock_release(sk->sk_socket);
}
#define udp_tunnel_sock_release ofed_udp_tunnel_sock_release
#endif
#endif
