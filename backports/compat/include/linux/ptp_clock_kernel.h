/* SPDX-License-Identifier: GPL-2.0 */
/* adjust_by_scaled_ppm() (6.2): a base frequency adjusted by a scaled-ppm offset. */
#include_next <linux/ptp_clock_kernel.h>

#ifndef _OFED_LINUX_PTP_CLOCK_KERNEL_H
#define _OFED_LINUX_PTP_CLOCK_KERNEL_H

#ifndef HAVE_ADJUST_BY_SCALED_PPM
static inline u64 ofed_adjust_by_scaled_ppm(u64 base, long scaled_ppm)
{
	bool negative = scaled_ppm < 0;
	u64 diff = mul_u64_u64_div_u64(base, (u64)(negative ? -scaled_ppm : scaled_ppm),
				       1000000ULL << 16);

	return negative ? base - diff : base + diff;
}
#define adjust_by_scaled_ppm ofed_adjust_by_scaled_ppm
#endif

#endif /* _OFED_LINUX_PTP_CLOCK_KERNEL_H */
