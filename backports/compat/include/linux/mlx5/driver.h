/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mlx5_rdma_rn_get_params(mdev, device, params) is mlx5_core's (the target's module, which we
 * do not rebuild): it fills params for the IPoIB offload of Y's mlx5_ib. Its prototype hands
 * it a struct ib_device, which the ABI gate must count as read at the target's layout; the
 * function never uses that argument (Debian 11's 5.10, 12's 6.1 and 6.12, 13's 6.12 alike:
 * the name appears in the parameter list only), and struct rdma_netdev_alloc_params, which it
 * writes, genksyms expands alike over our headers and the target's: the CRC differs through
 * struct ib_device alone. So our calls pass NULL for it, and the gate is told so. The
 * callback it returns (mlx5_rdma_setup_rn) only stores the device it is later handed in
 * struct rdma_netdev, which IPoIB, rebuilt by us, reads.
 * Switched off on X -> X (OFED_CORE_RDMA_HEADERS_ARE_TARGETS), and where mlx5_core is X's
 * (OFED_CORE_MLX5_FROM_X, rule upstream): it is then ours, defined by its own ipoib.c.
 */
#ifndef _OFED_COMPAT_LINUX_MLX5_DRIVER_H
#define _OFED_COMPAT_LINUX_MLX5_DRIVER_H

#include_next <linux/mlx5/driver.h>

#if defined(HAVE_MLX5_RDMA_RN_GET_PARAMS) && !defined(OFED_CORE_RDMA_HEADERS_ARE_TARGETS) && \
    !defined(OFED_CORE_MLX5_FROM_X)
#ifndef __GENKSYMS__   /* the ABI gate's pass over the target's own definition keeps its name */
static inline int ofed_mlx5_rdma_rn_get_params(struct mlx5_core_dev *mdev, struct ib_device *device,
					       struct rdma_netdev_alloc_params *params)
{
	return mlx5_rdma_rn_get_params(mdev, NULL, params);
}
#define mlx5_rdma_rn_get_params(mdev, device, params) ofed_mlx5_rdma_rn_get_params(mdev, device, params)
#define OFED_ABI_REDIRECTED_mlx5_rdma_rn_get_params \
	"called with no ib_device (compat/include/linux/mlx5/driver.h): mlx5_core does not use it"
#endif
#endif

#endif
