/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Force-included into every object of the generated tree (after the kernel's
 * compiler_types.h, so kernel macros are usable here).  config.h holds the
 * HAVE_* results of backports/probes/ for the target kernel.
 */
#ifndef _OFED_COMPAT_H
#define _OFED_COMPAT_H

#include "config.h"

#endif /* _OFED_COMPAT_H */
