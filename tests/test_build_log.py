"""Reading kbuild's log (which module a diagnostic belongs to) and finding a sign-file that runs: no kernel build needed."""

from __future__ import annotations

from pathlib import Path

from ofedtool.build import _failed_modules, parse_log
from ofedtool.modules import load_catalog

TOP = Path("/tmp/tree")
KDIR = Path("/k/linux-headers-6.1.0-56-amd64")

# Abridged from a real 7.3 -> 6.1 ULP build: the type-checked min() fails inside a kernel header,
# so gcc names the header first and the .c being compiled only in its context lines.
LOG = """\
  CC [M]  /tmp/tree/drivers/nvme/target/rdma.o
  CC [M]  /tmp/tree/drivers/infiniband/core/uverbs_ioctl.o
In file included from <command-line>:
In function 'nvmet_rdma_init_srqs',
    inlined from 'nvmet_rdma_find_get_device' at ../../../../tmp/tree/drivers/nvme/target/rdma.c:1255:9:
/k/linux-headers-6.1.0-56-common/include/linux/compiler_types.h:387:45: error: call to '__compiletime_assert_685' declared with attribute error: min() signedness error
/tmp/tree/drivers/infiniband/ulp/srpt/ib_srpt.c: In function 'srpt_create_ch_ib':
/k/linux-headers-6.1.0-56-common/include/linux/compiler_types.h:387:45: error: call to '__compiletime_assert_710' declared with attribute error: min() signedness error
/tmp/tree/drivers/infiniband/core/cq.c:61:14: error: implicit declaration of function 'kzalloc_obj'
"""


def test_header_errors_count_for_the_unit_being_compiled():
    diags = [d for d in parse_log(LOG, TOP, set(), KDIR) if d.kind == "error"]
    assert [d.unit for d in diags] == ["drivers/nvme/target/rdma.c", "drivers/infiniband/ulp/srpt/ib_srpt.c", ""]
    assert diags[2].file == "drivers/infiniband/core/cq.c"
    mods = list(load_catalog().modules.values())
    broken = _failed_modules(diags, mods)
    # the two ULPs, and everything the core directory builds; nothing else
    assert {"nvmet-rdma", "ib_srpt", "ib_core", "ib_uverbs"} <= broken
    assert not broken & {"nvme-rdma", "ib_ipoib", "rdma_rxe", "siw", "rpcrdma"}


def test_sign_file_that_cannot_start_falls_back_to_the_hosts(tmp_path, monkeypatch):
    """Debian 11's sign-file needs libcrypto.so.1.1, which a Debian 12 host lacks: sign with the
    host's own kernel build tools (same signature layout) and say so, or fail naming the package.
    Both cases, whatever this host has: the host's kbuild dirs are stand-ins under tmp_path."""
    import glob
    import os

    import pytest

    from ofedtool import kmod
    from ofedtool.errors import OfedError

    def script(path: Path, body: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
        return path

    fake = script(tmp_path / "scripts" / "sign-file",
                  "echo 'sign-file: error while loading shared libraries: libcrypto.so.1.1' >&2\nexit 127\n")
    host = tmp_path / "host"
    real_glob = glob.glob
    monkeypatch.setattr(kmod.glob, "glob", lambda pattern: real_glob(str(host) + pattern))
    with pytest.raises(OfedError, match="does not run on this host .* install linux-headers-amd64"):
        kmod.sign_file_of(tmp_path, "5.10.0-46-amd64")
    runs = script(host / "usr/lib/linux-kbuild-6.1/scripts/sign-file", "echo usage >&2\nexit 1\n")
    script(host / "usr/src/linux-headers-6.1.0-9-amd64/scripts/sign-file", "exit 127\n")  # broken too
    got = kmod.sign_file_of(tmp_path, "5.10.0-46-amd64")
    assert got == runs and got != fake
