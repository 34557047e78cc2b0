/* SPDX-License-Identifier: GPL-2.0 */
/*
 * <linux/rbtree_types.h> (5.16) split the rbtree structures out of <linux/rbtree.h>;
 * before, they are in <linux/rbtree.h> itself.
 */
#ifdef HAVE_LINUX_RBTREE_TYPES_H
#include_next <linux/rbtree_types.h>
#else
#include <linux/rbtree.h>
#endif
