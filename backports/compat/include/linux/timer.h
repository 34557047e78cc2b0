/* SPDX-License-Identifier: GPL-2.0 */
/*
 * timer_container_of() (6.16) is the new name of from_timer(): the structure that embeds
 * a timer, from the timer a callback got.
 */
#include_next <linux/timer.h>

#ifndef timer_container_of
#define timer_container_of(var, callback_timer, timer_fieldname) \
	container_of(callback_timer, typeof(*var), timer_fieldname)
#endif
