/* SPDX-License-Identifier: GPL-2.0 */
/* skb_frag_fill_page_desc() (6.5): page, offset and size of a fragment in one call. */
#include_next <linux/skbuff.h>

#ifndef _OFED_LINUX_SKBUFF_H
#define _OFED_LINUX_SKBUFF_H

#ifndef HAVE_SKB_FRAG_FILL_PAGE_DESC
static inline void ofed_skb_frag_fill_page_desc(skb_frag_t *frag, struct page *page, int off, int size)
{
	__skb_frag_set_page(frag, page);
	skb_frag_off_set(frag, off);
	skb_frag_size_set(frag, size);
}
#define skb_frag_fill_page_desc ofed_skb_frag_fill_page_desc
#endif

#endif /* _OFED_LINUX_SKBUFF_H */
