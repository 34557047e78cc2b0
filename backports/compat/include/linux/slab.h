/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Typed allocators (7.0; also in 6.12.y stable): kmalloc_obj(), kzalloc_objs(),
 * kzalloc_flex() ... size the allocation from the type (and its flexible array member),
 * with overflow-checked arithmetic, and return a typed pointer; the GFP flags are optional
 * and default to GFP_KERNEL.  Before them, the same sizes come from array_size() and
 * struct_size() with the plain allocators.
 */
#include_next <linux/slab.h>

#ifndef _OFED_LINUX_SLAB_H
#define _OFED_LINUX_SLAB_H
#ifndef kmalloc_obj
#include <linux/overflow.h>

#ifndef default_gfp
#define __ofed_second_arg(a, b, ...) b
#define default_gfp(...) __ofed_second_arg(, ##__VA_ARGS__, GFP_KERNEL)
#endif

#define __ofed_alloc_objs(ALLOC, GFP, TYPE, COUNT) \
	((TYPE *)ALLOC(array_size(sizeof(TYPE), COUNT), GFP))
#define __ofed_alloc_flex(ALLOC, GFP, TYPE, FAM, COUNT) \
	((TYPE *)ALLOC(struct_size((TYPE *)NULL, FAM, COUNT), GFP))

#define kmalloc_obj(V, ...)	__ofed_alloc_objs(kmalloc, default_gfp(__VA_ARGS__), typeof(V), 1)
#define kmalloc_objs(V, N, ...)	__ofed_alloc_objs(kmalloc, default_gfp(__VA_ARGS__), typeof(V), N)
#define kmalloc_flex(V, F, N, ...) \
	__ofed_alloc_flex(kmalloc, default_gfp(__VA_ARGS__), typeof(V), F, N)
#define kzalloc_obj(V, ...)	__ofed_alloc_objs(kzalloc, default_gfp(__VA_ARGS__), typeof(V), 1)
#define kzalloc_objs(V, N, ...)	__ofed_alloc_objs(kzalloc, default_gfp(__VA_ARGS__), typeof(V), N)
#define kzalloc_flex(V, F, N, ...) \
	__ofed_alloc_flex(kzalloc, default_gfp(__VA_ARGS__), typeof(V), F, N)
#define kvmalloc_obj(V, ...)	__ofed_alloc_objs(kvmalloc, default_gfp(__VA_ARGS__), typeof(V), 1)
#define kvmalloc_objs(V, N, ...) \
	__ofed_alloc_objs(kvmalloc, default_gfp(__VA_ARGS__), typeof(V), N)
#define kvmalloc_flex(V, F, N, ...) \
	__ofed_alloc_flex(kvmalloc, default_gfp(__VA_ARGS__), typeof(V), F, N)
#define kvzalloc_obj(V, ...)	__ofed_alloc_objs(kvzalloc, default_gfp(__VA_ARGS__), typeof(V), 1)
#define kvzalloc_objs(V, N, ...) \
	__ofed_alloc_objs(kvzalloc, default_gfp(__VA_ARGS__), typeof(V), N)
#define kvzalloc_flex(V, F, N, ...) \
	__ofed_alloc_flex(kvzalloc, default_gfp(__VA_ARGS__), typeof(V), F, N)
#endif
#endif
