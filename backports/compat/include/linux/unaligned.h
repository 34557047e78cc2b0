/* SPDX-License-Identifier: GPL-2.0 */
/*
 * 6.12 moved <asm/unaligned.h> to <linux/unaligned.h> (include/rdma/iba.h and
 * many RDMA sources use the new name).  Older kernels: the old location.
 */
#ifdef HAVE_LINUX_UNALIGNED_H
#include_next <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif
