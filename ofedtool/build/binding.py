"""Module.symvers binding: every module we build must import OUR core's exports, not the distro's.

A ULP compiled against the backported core headers resolves its RDMA imports through modpost,
which reads the M= build's Module.symvers (our exports) ahead of the kernel's. If a symbol is
missing there (a module not selected, a KBUILD_EXTRA_SYMBOLS slip) modpost silently takes the
distro's entry and the CRC recorded in the .ko's __versions is the distro core's: the module
builds, then refuses to load next to our core ("disagrees about version of symbol").

check_binding() reads <tree>/Module.symvers and each built .ko's modversions
(`modprobe --dump-modversions`) and reports every import that one of our modules exports with a
different CRC, and every import the distro's RDMA modules export that ours do not (bound to a
module we replace).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..fetch.kbuild import Export
from ..kmod import dump_modversions
from ..fetch.kbuild import read_symvers as _read_symvers


@dataclass(frozen=True)
class Problem:
    module: str     # the importing module (file stem of its .ko)
    symbol: str
    msg: str

    def as_dict(self) -> dict:
        return asdict(self)


def read_symvers(path: Path) -> dict[str, Export]:
    """Module.symvers, {} when there is none (kbuild.read_symvers)."""
    return _read_symvers(path, missing_ok=True)



def _ko(tree: Path, m) -> Path:
    """m: a catalog Module (dir, name) or a path to a .ko."""
    if isinstance(m, (str, Path)):
        return Path(m)
    return tree / m.dir / f"{m.name}.ko"


def check_binding(tree: Path, modules, kernel_symvers: Path | None = None) -> list[Problem]:
    """Problems for every import of `modules` (catalog Modules or .ko paths) that does not bind
    to our own export. kernel_symvers (the target's Module.symvers, optional) names imports the
    distro's RDMA modules export but ours do not."""
    tree = Path(tree)
    ours = read_symvers(tree / "Module.symvers")
    if not ours:
        return [Problem("", "", f"{tree / 'Module.symvers'} is missing or empty: the build exported nothing")]
    distro = read_symvers(kernel_symvers) if kernel_symvers else {}
    # Distro modules we replace: the ones at the same paths as ours.
    replaced = {e.module.rsplit("/", 1)[-1] for e in ours.values()}
    problems = []
    for m in modules:
        ko = _ko(tree, m)
        if not ko.exists():
            continue   # compile_tree already reports a missing .ko
        name = ko.name[: -len(".ko")]
        for sym, crc in sorted(dump_modversions(ko).items()):
            mine = ours.get(sym)
            if mine is not None:
                if mine.crc != crc:
                    d = distro.get(sym)
                    whose = " (the distro's CRC)" if d is not None and d.crc == crc else ""
                    problems.append(Problem(name, sym, f"{name}.ko imports {sym} with CRC {crc:#010x}{whose}, "
                                                       f"our {mine.module.rsplit('/', 1)[-1]} exports {mine.crc:#010x}"))
                continue
            d = distro.get(sym)
            if d is not None and d.module.rsplit("/", 1)[-1] in replaced:
                problems.append(Problem(name, sym, f"{name}.ko imports {sym} from the distro's "
                                                   f"{d.module.rsplit('/', 1)[-1]}, which our build replaces "
                                                   f"but does not export it"))
    return problems
