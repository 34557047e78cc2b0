/* SPDX-License-Identifier: GPL-2.0 */
/*
 * poll_timeout_us(op, cond, sleep_us, timeout_us, sleep_before_op) (6.17, 'iopoll: Generalize
 * read_poll_timeout() into poll_timeout_us()'): the generic form of read_poll_timeout() that
 * runs any statement; X's mlx5 wc.c polls its completion queue with it. A macro, so the copy
 * here is the upstream one.
 */
#include_next <linux/iopoll.h>

#ifndef _OFED_LINUX_IOPOLL_H
#define _OFED_LINUX_IOPOLL_H

#ifndef HAVE_POLL_TIMEOUT_US
#include <linux/ktime.h>
#include <linux/delay.h>
#define poll_timeout_us(op, cond, sleep_us, timeout_us, sleep_before_op) \
({ \
	u64 __timeout_us = (timeout_us); \
	unsigned long __sleep_us = (sleep_us); \
	ktime_t __timeout = ktime_add_us(ktime_get(), __timeout_us); \
	int ___ret; \
	might_sleep_if((__sleep_us) != 0); \
	if ((sleep_before_op) && __sleep_us) \
		usleep_range((__sleep_us >> 2) + 1, __sleep_us); \
	for (;;) { \
		bool __expired = __timeout_us && \
			ktime_compare(ktime_get(), __timeout) > 0; \
		barrier(); \
		op; \
		if (cond) { \
			___ret = 0; \
			break; \
		} \
		if (__expired) { \
			___ret = -ETIMEDOUT; \
			break; \
		} \
		if (__sleep_us) \
			usleep_range((__sleep_us >> 2) + 1, __sleep_us); \
		cpu_relax(); \
	} \
	___ret; \
})
#endif

#endif /* _OFED_LINUX_IOPOLL_H */
