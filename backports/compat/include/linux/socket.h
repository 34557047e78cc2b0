/* SPDX-License-Identifier: GPL-2.0 */
/*
 * MSG_SPLICE_PAGES (6.5): sendmsg() takes the pages of a bvec iterator by
 * reference instead of copying them.  siw_qp_tx.c sends through
 * tcp_sendmsg_locked() with it; without the flag TCP copies the data out of the
 * same bvec iterator, which is correct (and does not depend on the pages staying
 * untouched until acknowledged).
 */
#include_next <linux/socket.h>

#ifndef _OFED_LINUX_SOCKET_H
#define _OFED_LINUX_SOCKET_H

#ifndef HAVE_MSG_SPLICE_PAGES
#define MSG_SPLICE_PAGES 0
#endif

/*
 * struct sockaddr_unsized (after 6.12): proto_ops bind/connect take it instead of struct
 * sockaddr.  siw casts its addresses to it; before, the same calls take struct sockaddr.
 */
#ifndef HAVE_STRUCT_SOCKADDR_UNSIZED
#define sockaddr_unsized sockaddr
#endif

#endif /* _OFED_LINUX_SOCKET_H */
