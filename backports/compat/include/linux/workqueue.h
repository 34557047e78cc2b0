/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Workqueues are moving from per-CPU to unbound by default (6.17): WQ_PERCPU asks for the
 * old behaviour explicitly, and system_dfl_wq is the new name of system_unbound_wq.
 * Before, per-CPU is what alloc_workqueue() gives without WQ_UNBOUND, so the flag is 0.
 */
#include_next <linux/workqueue.h>

#ifndef _OFED_LINUX_WORKQUEUE_H
#define _OFED_LINUX_WORKQUEUE_H
#ifndef HAVE_WQ_PERCPU
#define WQ_PERCPU 0
#endif
#ifndef HAVE_SYSTEM_DFL_WQ
#define system_dfl_wq system_unbound_wq
#endif
#endif
