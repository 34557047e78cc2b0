/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmm_range_fault_unlocked_timeout() (after 6.12): fault a range in, taking the mmap lock
 * itself and retrying -EBUSY (an invalidation raced the walk) until the timeout.  Before
 * it, ODP wrote this loop around hmm_range_fault() itself; this is that loop.  The caller
 * still checks mmu_interval_read_retry() under its own lock afterwards.
 */
#include_next <linux/hmm.h>

#ifndef _OFED_LINUX_HMM_H
#define _OFED_LINUX_HMM_H
#ifndef HAVE_HMM_RANGE_FAULT_UNLOCKED_TIMEOUT
#include <linux/jiffies.h>
#include <linux/mmap_lock.h>
#include <linux/mmu_notifier.h>

static inline int ofed_hmm_range_fault_unlocked_timeout(struct hmm_range *range,
							unsigned long timeout)
{
	struct mm_struct *mm = range->notifier->mm;
	unsigned long deadline = jiffies + timeout;
	int ret;

	do {
		if (timeout && time_after(jiffies, deadline))
			return -EBUSY;
		range->notifier_seq = mmu_interval_read_begin(range->notifier);
		ret = mmap_read_lock_killable(mm);
		if (ret)
			return ret;
		ret = hmm_range_fault(range);
		mmap_read_unlock(mm);
	} while (ret == -EBUSY);
	return ret;
}
#define hmm_range_fault_unlocked_timeout ofed_hmm_range_fault_unlocked_timeout
#endif
#endif
