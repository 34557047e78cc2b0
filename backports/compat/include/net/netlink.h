/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nla_strscpy() (5.11, replacing nla_strlcpy()), used by core/nldev.c: copy a
 * string attribute, always NUL-terminate and zero-pad, return the length or
 * -E2BIG when truncated.
 */
#include_next <net/netlink.h>

#ifndef _OFED_NET_NETLINK_H
#define _OFED_NET_NETLINK_H

#ifndef HAVE_NLA_STRSCPY
static inline ssize_t ofed_nla_strscpy(char *dst, const struct nlattr *nla,
				       size_t dstsize)
{
	size_t srclen = nla_len(nla);
	const char *src = nla_data(nla);
	ssize_t ret;
	size_t len;

	if (dstsize == 0 || WARN_ON_ONCE(dstsize > U16_MAX))
		return -E2BIG;
	if (srclen > 0 && src[srclen - 1] == '\0')
		srclen--;
	if (srclen >= dstsize) {
		len = dstsize - 1;
		ret = -E2BIG;
	} else {
		len = srclen;
		ret = len;
	}
	memcpy(dst, src, len);
	memset(dst + len, 0, dstsize - len);
	return ret;
}
#define nla_strscpy ofed_nla_strscpy
#endif

/*
 * NL_SET_ERR_MSG_FMT_MOD() (6.2) formats into the extack's own buffer, which the target's
 * struct netlink_ext_ack lacks. The message the user gets is the format string itself (a
 * literal, so it outlives the request), and the formatted one goes to the kernel log.
 */
#ifndef HAVE_NL_SET_ERR_MSG_FMT
#define NL_SET_ERR_MSG_FMT_MOD(extack, fmt, args...) do {			\
	net_warn_ratelimited(KBUILD_MODNAME ": " fmt "\n", ##args);		\
	NL_SET_ERR_MSG_MOD((extack), fmt);					\
} while (0)
#endif

#endif /* _OFED_NET_NETLINK_H */
