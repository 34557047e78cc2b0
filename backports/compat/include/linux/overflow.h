/* SPDX-License-Identifier: GPL-2.0 */
/*
 * overflows_type(n, T) (6.2): would n not fit in the type of T?  umem.c checks a user
 * supplied length with it.  The compiler's overflow builtin answers it for mixed types.
 */
#include_next <linux/overflow.h>

#ifndef overflows_type
#define overflows_type(n, T) ({					\
	typeof(T) __ofed_overflows_v;				\
	__builtin_add_overflow((n), 0, &__ofed_overflows_v);	\
})
#endif
