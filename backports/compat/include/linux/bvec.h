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

/* bvec_iter_advance_single() (5.13): step an iterator over at most one bio_vec. */
#ifndef HAVE_BVEC_ITER_ADVANCE_SINGLE
static inline void ofed_bvec_iter_advance_single(const struct bio_vec *bv,
						 struct bvec_iter *iter, unsigned int bytes)
{
	unsigned int done = iter->bi_bvec_done + bytes;

	if (done == bv[iter->bi_idx].bv_len) {
		done = 0;
		iter->bi_idx++;
	}
	iter->bi_bvec_done = done;
	iter->bi_size -= bytes;
}
#define bvec_iter_advance_single ofed_bvec_iter_advance_single
#endif

/* bvec_virt() (5.15): the kernel address of a bio_vec's (lowmem) page and offset. */
#ifndef HAVE_BVEC_VIRT
static inline void *ofed_bvec_virt(struct bio_vec *bvec)
{
	WARN_ON_ONCE(PageHighMem(bvec->bv_page));
	return page_address(bvec->bv_page) + bvec->bv_offset;
}
#define bvec_virt ofed_bvec_virt
#endif

#endif /* _OFED_LINUX_BVEC_H */
