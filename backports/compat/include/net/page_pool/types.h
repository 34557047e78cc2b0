/* SPDX-License-Identifier: GPL-2.0 */
/*
 * <net/page_pool/types.h> and <net/page_pool/helpers.h> (6.6) split the older
 * <net/page_pool.h>, which holds both.
 */
#ifdef HAVE_NET_PAGE_POOL_TYPES_H
#include_next <net/page_pool/types.h>
#else
#include <net/page_pool.h>
#endif
