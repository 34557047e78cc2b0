/* SPDX-License-Identifier: GPL-2.0 */
/*
 * struct fd accessors of 6.12 (struct fd became one tagged word): fd_file()
 * and EMPTY_FD.  Before, struct fd was { struct file *file; unsigned int flags; }.
 */
#include_next <linux/file.h>

#ifndef _OFED_LINUX_FILE_H
#define _OFED_LINUX_FILE_H

#ifndef HAVE_FD_FILE
#define fd_file(f) ((f).file)
#endif

#ifndef HAVE_EMPTY_FD
#define EMPTY_FD ((struct fd){ .file = NULL, .flags = 0 })
#endif

/* fd_empty() (6.12, with the same change): no file behind the fd. */
#ifndef HAVE_FD_EMPTY
static inline bool ofed_fd_empty(struct fd f)
{
	return unlikely(!f.file);
}
#define fd_empty ofed_fd_empty
#endif

#endif /* _OFED_LINUX_FILE_H */
