"""Reading kbuild's log: which module a diagnostic belongs to (no kernel needed)."""

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
