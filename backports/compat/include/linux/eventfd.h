/* SPDX-License-Identifier: GPL-2.0 */
/*
 * eventfd_signal(ctx) (6.8) always adds 1; before, the count was the second argument. X's code
 * gets the one-argument form; Y's own code (OFED_TARGET_RULE: the target's mlx5_ib) calls the
 * target's two-argument one, as it was written for.
 */
#include_next <linux/eventfd.h>

#ifndef _OFED_LINUX_EVENTFD_H
#define _OFED_LINUX_EVENTFD_H

#if !defined(HAVE_EVENTFD_SIGNAL_ONE_ARG) && !defined(OFED_TARGET_RULE)
static inline void ofed_eventfd_signal(struct eventfd_ctx *ctx)
{
	eventfd_signal(ctx, 1);
}
#define eventfd_signal ofed_eventfd_signal
#endif

#endif /* _OFED_LINUX_EVENTFD_H */
