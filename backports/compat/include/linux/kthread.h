/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kthread_run_on_cpu() (5.16), used by siw_qp_tx.c for its per-CPU TX threads.
 * Upstream it wraps kthread_create_on_cpu(), which older kernels do not export
 * (a call compiles, then fails modpost): build the same thread from the exported
 * kthread_create_on_node() + kthread_bind(), as siw did before 5.16.  Such a
 * thread is not marked per-CPU, so CPU hot-unplug migrates instead of parks it.
 */
#include_next <linux/kthread.h>

#ifndef _OFED_LINUX_KTHREAD_H
#define _OFED_LINUX_KTHREAD_H

#if !defined(HAVE_KTHREAD_RUN_ON_CPU) || !defined(HAVE_KTHREAD_CREATE_ON_CPU_EXPORTED)
#include <linux/err.h>
#include <linux/sched.h>
#include <linux/topology.h>

static inline struct task_struct *
ofed_kthread_run_on_cpu(int (*threadfn)(void *data), void *data,
			unsigned int cpu, const char *namefmt)
{
	struct task_struct *p;

	p = kthread_create_on_node(threadfn, data, cpu_to_node(cpu), namefmt, cpu);
	if (!IS_ERR(p)) {
		kthread_bind(p, cpu);
		wake_up_process(p);
	}
	return p;
}
#define kthread_run_on_cpu ofed_kthread_run_on_cpu
#endif

#endif /* _OFED_LINUX_KTHREAD_H */
