/* SPDX-License-Identifier: GPL-2.0 */
/*
 * trace_sk_data_ready() (6.6) used by siw.  The kernel header is a multi-read
 * trace header: always pass through to it, add the stub once.  Without the
 * tracepoint in the kernel there is nothing to fire: a no-op is exact.
 */
#include_next <trace/events/sock.h>

#ifndef _OFED_TRACE_EVENTS_SOCK_H
#define _OFED_TRACE_EVENTS_SOCK_H

#ifndef HAVE_TRACE_SK_DATA_READY
struct sock;
static inline void trace_sk_data_ready(const struct sock *sk) { }
#endif

#endif /* _OFED_TRACE_EVENTS_SOCK_H */
