/* SPDX-License-Identifier: GPL-2.0 */
/* bvec_set_page() (6.4), used by siw_qp_tx.c: fill a bio_vec. */
#include_next <linux/bvec.h>

#ifndef _OFED_LINUX_BVEC_H
#define _OFED_LINUX_BVEC_H

#ifndef HAVE_BVEC_SET_PAGE
static inline void ofed_bvec_set_page(struct bio_vec *bv, struct page *page,
				      unsigned int len, unsigned int offset)
{
	bv->bv_page = page;
	bv->bv_len = len;
	bv->bv_offset = offset;
}
#define bvec_set_page ofed_bvec_set_page
#endif

/* bvec_phys() (6.11): the physical address a bio_vec starts at. */
#ifndef HAVE_BVEC_PHYS
static inline phys_addr_t ofed_bvec_phys(const struct bio_vec *bvec)
{
	return ((phys_addr_t)page_to_pfn(bvec->bv_page) << PAGE_SHIFT) + bvec->bv_offset;
}
#define bvec_phys ofed_bvec_phys
#endif

#endif /* _OFED_LINUX_BVEC_H */
