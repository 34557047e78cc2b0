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

#endif /* _OFED_LINUX_BVEC_H */
