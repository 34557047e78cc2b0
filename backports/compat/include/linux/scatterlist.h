/* SPDX-License-Identifier: GPL-2.0 */
/*
 * struct sg_append_table, sg_alloc_append_table_from_pages() and
 * sg_free_append_table() (5.15), used by core/umem.c and include/rdma/ib_umem.h.
 * Built on the older chaining form of __sg_alloc_table_from_pages() (prv and
 * left_pages arguments), whose table keeps the allocated entry count in
 * orig_nents and the populated count in nents.  5.15 moved the allocated count
 * to total_nents and made orig_nents the populated count (for_each_sgtable_sg
 * and the DMA mapping walk orig_nents): translate around each call.
 */
#include_next <linux/scatterlist.h>

#ifndef _OFED_LINUX_SCATTERLIST_H
#define _OFED_LINUX_SCATTERLIST_H

#ifndef HAVE_SG_APPEND_TABLE
#include <linux/err.h>

struct sg_append_table {
	struct sg_table sgt;		/* orig_nents = nents = populated entries */
	struct scatterlist *prv;	/* last populated entry */
	unsigned int total_nents;	/* allocated entries */
};

static inline int
ofed_sg_alloc_append_table_from_pages(struct sg_append_table *sgt_append,
				      struct page **pages, unsigned int n_pages,
				      unsigned int offset, unsigned long size,
				      unsigned int max_segment,
				      unsigned int left_pages, gfp_t gfp_mask)
{
	struct scatterlist *sg;

	sgt_append->sgt.orig_nents = sgt_append->total_nents;
	sg = __sg_alloc_table_from_pages(&sgt_append->sgt, pages, n_pages,
					 offset, size, max_segment,
					 sgt_append->prv, left_pages, gfp_mask);
	/* entries may have been allocated even on failure: account them */
	sgt_append->total_nents = sgt_append->sgt.orig_nents;
	sgt_append->sgt.orig_nents = sgt_append->sgt.nents;
	if (IS_ERR(sg))
		return PTR_ERR(sg);
	sgt_append->prv = sg;
	return 0;
}

static inline void ofed_sg_free_append_table(struct sg_append_table *table)
{
	table->sgt.orig_nents = table->total_nents;
	sg_free_table(&table->sgt);
	table->total_nents = 0;
	table->prv = NULL;
}
#define sg_alloc_append_table_from_pages ofed_sg_alloc_append_table_from_pages
#define sg_free_append_table ofed_sg_free_append_table
#endif

#endif /* _OFED_LINUX_SCATTERLIST_H */
