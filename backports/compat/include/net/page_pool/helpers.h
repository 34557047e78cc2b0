/* SPDX-License-Identifier: GPL-2.0 */
/* See types.h beside: the older <net/page_pool.h> holds the helpers too. */
#ifdef HAVE_NET_PAGE_POOL_HELPERS_H
#include_next <net/page_pool/helpers.h>
#else
#include <net/page_pool.h>
#endif

/*
 * page_pool_unref_page()/page_pool_put_unrefed_page() (6.6) are the older
 * page_pool_defrag_page()/page_pool_put_defragged_page() renamed: drop fragment references,
 * and return the page once the last one is gone.
 */
#ifndef HAVE_PAGE_POOL_UNREF_PAGE
#define page_pool_unref_page page_pool_defrag_page
#define page_pool_put_unrefed_page page_pool_put_defragged_page
#endif
