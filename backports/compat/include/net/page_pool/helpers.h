/* SPDX-License-Identifier: GPL-2.0 */
/* See types.h beside: the older <net/page_pool.h> holds the helpers too. */
#ifdef HAVE_NET_PAGE_POOL_HELPERS_H
#include_next <net/page_pool/helpers.h>
#else
#include <net/page_pool.h>
#endif
