/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unpin_user_page_range_dirty_lock() (5.12), used by core/umem.c to release a
 * scatterlist entry's run of pinned pages.  Each page of the run holds its own
 * pin (counted on the compound head), so unpinning page by page with the older
 * exported unpin_user_pages_dirty_lock() is the same operation.
 */
#include_next <linux/mm.h>

#ifndef _OFED_LINUX_MM_H
#define _OFED_LINUX_MM_H

#ifndef HAVE_UNPIN_USER_PAGE_RANGE_DIRTY_LOCK
static inline void ofed_unpin_user_page_range_dirty_lock(struct page *page,
							  unsigned long npages,
							  bool make_dirty)
{
	unsigned long i;

	for (i = 0; i < npages; i++) {
		struct page *p = nth_page(page, i);

		unpin_user_pages_dirty_lock(&p, 1, make_dirty);
	}
}
#define unpin_user_page_range_dirty_lock ofed_unpin_user_page_range_dirty_lock
#endif

/*
 * zap_special_vma_range() (after 6.12) is the new name of zap_vma_ptes(): clear the PTEs
 * of a VM_PFNMAP range (uverbs zaps a half-set-up mmap with it).
 */
#ifndef HAVE_ZAP_SPECIAL_VMA_RANGE
#define zap_special_vma_range zap_vma_ptes
#endif

/*
 * vm_flags_set()/vm_flags_clear() (6.3): vma->vm_flags became read-only outside them. Before,
 * drivers wrote the flags directly, under the mmap lock the mmap handler holds.
 */
#ifndef HAVE_VM_FLAGS_SET
static inline void ofed_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void ofed_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#define vm_flags_set ofed_vm_flags_set
#define vm_flags_clear ofed_vm_flags_clear
#endif

#endif /* _OFED_LINUX_MM_H */
