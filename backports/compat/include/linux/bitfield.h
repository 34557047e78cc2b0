/* SPDX-License-Identifier: GPL-2.0 */
/*
 * FIELD_PREP_CONST() (6.4): FIELD_PREP() usable in constant expressions (enum values, static
 * initialisers), with the same compile-time checks expressed as BUILD_BUG_ON_ZERO().
 */
#include_next <linux/bitfield.h>

#ifndef _OFED_LINUX_BITFIELD_H
#define _OFED_LINUX_BITFIELD_H

#ifndef HAVE_FIELD_PREP_CONST
#define FIELD_PREP_CONST(_mask, _val)						\
	(									\
		BUILD_BUG_ON_ZERO((_mask) == 0) +				\
		BUILD_BUG_ON_ZERO(~((_mask) >> __bf_shf(_mask)) & (_val)) +	\
		BUILD_BUG_ON_ZERO(((_mask) + (1ULL << __bf_shf(_mask))) &	\
				  (((_mask) + (1ULL << __bf_shf(_mask))) - 1)) +	\
		(((typeof(_mask))(_val) << __bf_shf(_mask)) & (_mask))		\
	)
#endif

#endif /* _OFED_LINUX_BITFIELD_H */
