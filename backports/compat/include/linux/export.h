/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Symbol namespaces are string literals since 6.13 (EXPORT_SYMBOL_NS_GPL(sym, "rdma_core")).
 * Older kernels stringify the argument, quotes included, and the macro that takes a ready
 * string differs between releases.  So there our namespaced exports are plain GPL exports:
 * every caller still links, only the namespace's access check is lost.
 */
#include_next <linux/export.h>

#ifndef _OFED_LINUX_EXPORT_H
#define _OFED_LINUX_EXPORT_H
#if defined(HAVE_SYMBOL_NS_IDENTIFIER) && defined(OFED_CORE_SYMBOL_NS_STRING)
#undef EXPORT_SYMBOL_NS
#define EXPORT_SYMBOL_NS(sym, ns) EXPORT_SYMBOL(sym)
#undef EXPORT_SYMBOL_NS_GPL
#define EXPORT_SYMBOL_NS_GPL(sym, ns) EXPORT_SYMBOL_GPL(sym)
#endif
#endif
