/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Symbol namespaces are string literals since 6.13 (MODULE_IMPORT_NS("DMA_BUF")).  Older
 * kernels stringify a bare identifier, so the literal would arrive with its quotes and
 * match no namespace: take the literal as it is, when our core is written that way
 * (OFED_CORE_SYMBOL_NS_STRING).  See linux/export.h for our own exports.  Y's own code
 * (OFED_TARGET_RULE: mana_ib's MODULE_IMPORT_NS(NET_MANA)) is written in the kernel's form.
 */
#include_next <linux/module.h>

#ifndef _OFED_LINUX_MODULE_H
#define _OFED_LINUX_MODULE_H
#if defined(HAVE_SYMBOL_NS_IDENTIFIER) && defined(OFED_CORE_SYMBOL_NS_STRING) && \
	!defined(OFED_TARGET_RULE)
#undef MODULE_IMPORT_NS
#define MODULE_IMPORT_NS(ns) MODULE_INFO(import_ns, ns)
#endif
#endif
