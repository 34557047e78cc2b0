/* SPDX-License-Identifier: GPL-2.0 */
/*
 * strscpy(dst, src) with the size taken from the destination array (6.8).  Before, the
 * size is always the third argument: supply sizeof(dst) when it is left out.
 */
#include_next <linux/string.h>

#ifndef _OFED_LINUX_STRING_H
#define _OFED_LINUX_STRING_H
#ifndef HAVE_STRSCPY_2ARGS
#define __ofed_strscpy_size(a, b, ...) b
/* the inner strscpy is not expanded again: it is the target's own function */
#define strscpy(dst, src, ...) strscpy(dst, src, __ofed_strscpy_size(, ##__VA_ARGS__, sizeof(dst)))
#endif
#endif
