/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ib_get_len() (the LRH packet length) left ib_hdrs.h when its last upstream user did; Y's
 * hfi1 tracepoints still read it.
 */
#ifndef _OFED_COMPAT_RDMA_IB_HDRS_H
#define _OFED_COMPAT_RDMA_IB_HDRS_H

#include_next <rdma/ib_hdrs.h>

#if defined(OFED_TARGET_RULE) && defined(HAVE_IB_GET_LEN) && !defined(OFED_CORE_IB_GET_LEN)
static inline u16 ofed_ib_get_len(struct ib_header *hdr)
{
	return (u16)(be16_to_cpu(hdr->lrh[2]));
}
#define ib_get_len ofed_ib_get_len
#endif

#endif
