"""A small fake kernel build tree, made by the tests: the files kbuild.py reads, no kernel source.

Laid out like Debian's split headers: the build dir holds .config, Module.symvers and the
generated headers, and its Makefile includes the -common tree, which holds include/linux.
"""

from __future__ import annotations

from pathlib import Path

RELEASE = "6.1.0-99-amd64"
CONFIG = """\
#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_CC_VERSION_TEXT="gcc-12 (Debian 12.2.0-14) 12.2.0"
CONFIG_X86=y
CONFIG_64BIT=y
CONFIG_MODVERSIONS=y
CONFIG_INFINIBAND=m
CONFIG_INFINIBAND_USER_ACCESS=m
CONFIG_INFINIBAND_IPOIB=m
# CONFIG_INFINIBAND_SRPT is not set
CONFIG_RDMA_RXE=m
"""
SYMVERS = (
    "0x12345678\tib_register_device\tdrivers/infiniband/core/ib_core\tEXPORT_SYMBOL\t\n"
    "0x0badcafe\tkmalloc_caches\tvmlinux\tEXPORT_SYMBOL\t\n"
    "0xdeadbeef\trdma_create_user_id\tdrivers/infiniband/core/rdma_cm\tEXPORT_SYMBOL_GPL\tRDMA\n"
    "short line without columns\n"
)


def make(root: Path) -> Path:
    """root/build (the build dir, returned) and root/common (its source tree)."""
    common, build = root / "common", root / "build"
    for rel, text in {
        "include/linux/types.h": "/* types */\n",
        "include/linux/module.h": "/* module */\n",
        "include/rdma/ib_verbs.h": "/* verbs */\n",
        "arch/x86/include/asm/page.h": "/* page */\n",
        "arch/arm64/include/asm/page.h": "/* another arch: not part of the tree's id */\n",
    }.items():
        (common / rel).parent.mkdir(parents=True, exist_ok=True)
        (common / rel).write_text(text)
    (build / "include" / "generated").mkdir(parents=True)
    (build / "include" / "config").mkdir(parents=True)
    (build / "include" / "generated" / "utsrelease.h").write_text(f'#define UTS_RELEASE "{RELEASE}"\n')
    # Debian's kernel.release holds the upstream version: the release is utsrelease.h's
    (build / "include" / "config" / "kernel.release").write_text("6.1.999\n")
    (build / ".config").write_text(CONFIG)
    (build / "Module.symvers").write_text(SYMVERS)
    (build / "Makefile").write_text(f"include {common}/Makefile\n")
    (common / "Makefile").write_text("# the kernel's top Makefile\n")
    return build


# A stand-in for kbuild's external-module build, enough for the DKMS probe kit: `make -C <build>
# M=<dir> [-k] [-j N] a.o b.o` compiles each <dir>/a.c with the host's cc, the tree's include
# dirs and the Kbuild's ccflags-y, as kbuild would; an object that does not compile is missing.
_KBUILD = """\
include $(M)/Kbuild
.SECONDARY:
$(M)/%.o: $(M)/%.c
\t$(CC) -nostdinc -I{common}/include -I{build}/include $(ccflags-y) -c $< -o $@
%.o: $(M)/%.o ;
"""


def make_buildable(root: Path) -> Path:
    """make(root), with a Makefile that compiles M='s objects (see _KBUILD)."""
    build = make(root)
    (root / "common" / "Makefile").write_text(_KBUILD.format(common=root / "common", build=build))
    return build
