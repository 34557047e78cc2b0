/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Force-included into every object of the generated tree (after the kernel's
 * compiler_types.h, so kernel macros are usable here).  config.h holds the
 * HAVE_* results of backports/probes/ for the target kernel.
 */
#ifndef _OFED_COMPAT_H
#define _OFED_COMPAT_H

#include "config.h"

/*
 * __counted_by(member) (6.7): flexible-array bounds annotation for the compiler.
 * Without it, an annotation that means nothing to the compiler.
 */
#ifndef HAVE_COUNTED_BY
#ifndef __counted_by
#define __counted_by(member)
#endif
#endif

/*
 * struct p2pdma_provider (after 6.12) appears only as a pointer in ib_device_ops; declare
 * it so the prototype's type is the same everywhere.
 */
#ifndef HAVE_P2PDMA_PROVIDER
struct p2pdma_provider;
#endif

#endif /* _OFED_COMPAT_H */
