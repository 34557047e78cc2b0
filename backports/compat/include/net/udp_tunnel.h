/* SPDX-License-Identifier: GPL-2.0 */
/*
 * setup_udp_tunnel_sock() and udp_tunnel_sock_release() take the struct sock after 6.12
 * (7.x rxe keeps only the sock).  Before, they take its struct socket: a kernel socket made
 * by udp_sock_create() always has one, sk->sk_socket.  Older cores (6.12's rxe) still pass
 * the struct socket, so the argument's own type decides what is passed on.
 */
#include_next <net/udp_tunnel.h>

#ifndef _OFED_NET_UDP_TUNNEL_H
#define _OFED_NET_UDP_TUNNEL_H
#ifndef HAVE_UDP_TUNNEL_SOCK_RELEASE_SK
#define __ofed_udp_tunnel_socket(s) \
	_Generic((s), struct sock *: ((struct sock *)(s))->sk_socket, default: (s))
/* the inner names are not expanded again: they are the target's own functions */
#define setup_udp_tunnel_sock(net, s, cfg) setup_udp_tunnel_sock(net, __ofed_udp_tunnel_socket(s), cfg)
#define udp_tunnel_sock_release(s) udp_tunnel_sock_release(__ofed_udp_tunnel_socket(s))
#endif
#endif
