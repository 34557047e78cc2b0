/* SPDX-License-Identifier: GPL-2.0 */
/*
 * skb_crc32c() (after 6.12): CRC32C over a range of an skb, paged data included.  siw
 * checks the MPA CRC of received FPDUs with it.  Before it, the same walk is
 * __skb_checksum() with CRC32C update and combine steps (what siw itself did then).
 */
#include_next <linux/crc32c.h>

#ifndef _OFED_LINUX_CRC32C_H
#define _OFED_LINUX_CRC32C_H
#ifndef HAVE_SKB_CRC32C
#include <linux/crc32.h>
#include <linux/skbuff.h>

static inline __wsum ofed_crc32c_csum_update(const void *buff, int len, __wsum sum)
{
	return (__force __wsum)crc32c((__force u32)sum, buff, len);
}

static inline __wsum ofed_crc32c_csum_combine(__wsum csum, __wsum csum2, int offset, int len)
{
	return (__force __wsum)__crc32c_le_combine((__force u32)csum, (__force u32)csum2, len);
}

static inline u32 ofed_skb_crc32c(const struct sk_buff *skb, int offset, int len, u32 crc)
{
	static const struct skb_checksum_ops ops = {
		.update = ofed_crc32c_csum_update,
		.combine = ofed_crc32c_csum_combine,
	};

	return (__force u32)__skb_checksum(skb, offset, len, (__force __wsum)crc, &ops);
}
#define skb_crc32c ofed_skb_crc32c
#endif
#endif
