/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmap_local_page()/kunmap_local() (5.11), used by rxe_mr.c and siw_qp_tx.c.
 * Local mappings may be held across sleeping calls (siw sends while mapped), so
 * kmap_atomic() is no substitute: without highmem a page is always mapped;
 * with highmem use the sleeping kmap()/kunmap().
 */
#include_next <linux/highmem.h>

#ifndef _OFED_LINUX_HIGHMEM_H
#define _OFED_LINUX_HIGHMEM_H

#ifndef HAVE_KMAP_LOCAL_PAGE
static inline void *ofed_kmap_local_page(struct page *page)
{
#ifdef CONFIG_HIGHMEM
	return kmap(page);
#else
	return page_address(page);
#endif
}

static inline void ofed_kunmap_local(const void *addr)
{
#ifdef CONFIG_HIGHMEM
	kunmap(kmap_to_page((void *)addr));
#endif
}
#define kmap_local_page ofed_kmap_local_page
#define kunmap_local(addr) ofed_kunmap_local(addr)
#endif

#endif /* _OFED_LINUX_HIGHMEM_H */
