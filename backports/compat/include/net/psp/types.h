/* SPDX-License-Identifier: GPL-2.0 */
/*
 * <net/psp/types.h> (the PSP security protocol, 6.18): X's mlx5 en.h includes it for its PSP
 * crypto offload, whose code is built only with CONFIG_MLX5_EN_PSP, which depends on
 * CONFIG_INET_PSP: a kernel without the header cannot enable either, so nothing of it is used
 * and the header stands empty there.
 */
#ifdef HAVE_NET_PSP_TYPES_H
#include_next <net/psp/types.h>
#endif
