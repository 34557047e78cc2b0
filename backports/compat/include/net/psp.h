/* SPDX-License-Identifier: GPL-2.0 */
/*
 * <net/psp.h> (the PSP security protocol, 6.18): X's mlx5 en_accel/psp_rxtx.h includes it
 * ahead of its CONFIG_MLX5_EN_PSP block; without the header the kernel has no CONFIG_INET_PSP,
 * so that block is off and nothing of it is used.
 */
#ifdef HAVE_NET_PSP_H
#include_next <net/psp.h>
#endif
