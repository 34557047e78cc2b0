/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rb_find() and rb_find_add() (5.12, with rb_add(): one commit, so HAVE_RB_FIND answers for
 * both): look up, or insert unless present, by a comparison callback instead of an open-coded
 * descent.  core/frmr_pools.c keys its pools with them.
 */
#include_next <linux/rbtree.h>

#ifndef _OFED_LINUX_RBTREE_H
#define _OFED_LINUX_RBTREE_H
#ifndef HAVE_RB_FIND
static __always_inline struct rb_node *
ofed_rb_find(const void *key, const struct rb_root *tree,
	     int (*cmp)(const void *key, const struct rb_node *))
{
	struct rb_node *node = tree->rb_node;

	while (node) {
		int c = cmp(key, node);

		if (c < 0)
			node = node->rb_left;
		else if (c > 0)
			node = node->rb_right;
		else
			return node;
	}
	return NULL;
}
#define rb_find ofed_rb_find

static __always_inline struct rb_node *
ofed_rb_find_add(struct rb_node *node, struct rb_root *tree,
		 int (*cmp)(struct rb_node *, const struct rb_node *))
{
	struct rb_node **link = &tree->rb_node;
	struct rb_node *parent = NULL;

	while (*link) {
		int c;

		parent = *link;
		c = cmp(node, parent);
		if (c < 0)
			link = &parent->rb_left;
		else if (c > 0)
			link = &parent->rb_right;
		else
			return parent;
	}
	rb_link_node(node, parent, link);
	rb_insert_color(node, tree);
	return NULL;
}
#define rb_find_add ofed_rb_find_add
#endif
#endif
