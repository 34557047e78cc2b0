"""Module files (.ko): their name, build-id and .modinfo, strip and signature — each done once,
for package (what ships), vmtest (what the guest loads), build, binding and consumers."""

from __future__ import annotations

import glob
import gzip
import lzma
import os
import re
import struct
from pathlib import Path

from . import ui
from .errors import OfedError
from .proc import require, run

_BUILD_ID_NOTE = struct.pack("<III", 4, 20, 3) + b"GNU\0"  # namesz, descsz (sha1), NT_GNU_BUILD_ID


def module_name(path: str | Path) -> str:
    """The kernel's name of a module file: ib_core for .../ib_core.ko.xz, dashes as underscores."""
    return re.sub(r"\.ko(\.\w+)?$", "", os.path.basename(str(path))).replace("-", "_")


def module_bytes(ko: Path) -> bytes:
    """The ELF of a .ko, .ko.xz or .ko.gz (the kernel decompresses Debian's 6.12 .ko.xz itself)."""
    data = Path(ko).read_bytes()
    if ko.name.endswith(".xz"):
        return lzma.decompress(data)
    if ko.name.endswith(".gz"):
        return gzip.decompress(data)
    return data


def build_id(ko: Path) -> str:
    """The module's GNU build-id (hex), which the running kernel shows in
    /sys/module/<m>/notes/.note.gnu.build-id. Not srcversion: Debian builds without
    MODULE_SRCVERSION_ALL and the RDMA modules declare no MODULE_VERSION, so neither the inbox
    nor our modules carry one. The build-id differs for any different build and survives
    strip --strip-debug. Reads .ko, .ko.xz and .ko.gz without tools."""
    data = module_bytes(ko)
    i = data.find(_BUILD_ID_NOTE)
    return data[i + 16:i + 36].hex() if i >= 0 else ""


def depends(ko: Path) -> list[str]:
    """The .modinfo depends= of a module file (.ko, .ko.xz read directly; others through modinfo)."""
    name = ko.name
    if name.endswith(".ko"):
        data = ko.read_bytes()
    elif name.endswith(".ko.xz"):
        data = lzma.decompress(ko.read_bytes())
    else:
        return [d for d in modinfo(ko, "depends").split(",") if d]
    # bytes.find (memchr-fast) instead of a regex: the (?:^|\x00) alternation made a scan of a
    # distro's ~4000 modules take ~10 s; the answer is the same.
    at = 0 if data.startswith(b"depends=") else data.find(b"\x00depends=") + 1
    if at == 0 and not data.startswith(b"depends="):
        return []
    at += len(b"depends=")
    end = data.find(b"\x00", at)
    value = data[at:] if end < 0 else data[at:end]
    return [d for d in value.decode(errors="replace").split(",") if d]


def modinfo(ko: Path, field: str) -> str:
    """One .modinfo field ("" when the module has none or modinfo cannot read it)."""
    p = run(["modinfo", "-F", field, ko], check=False, package="kmod")
    return p.stdout.strip() if p.returncode == 0 else ""


def vermagic(ko: Path) -> str | None:
    return modinfo(ko, "vermagic") or None


def signer(ko: Path) -> str:
    return modinfo(ko, "signer")


def dump_modversions(ko: Path) -> dict[str, int]:
    """symbol → CRC recorded in the .ko's __versions section."""
    p = run(["modprobe", "--dump-modversions", ko], what=f"modprobe --dump-modversions {ko.name}", package="kmod")
    out = {}
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) >= 2:
            try:
                out[f[1]] = int(f[0], 16)
            except ValueError:
                pass
    return out


def strip(ko: Path, program: str | None = None) -> None:
    """strip --strip-debug in place (never on a signed module: it would cut the signature off).
    program: the toolchain's own strip (a target built with its own binutils); default the host's."""
    program = program or require("strip", "binutils")
    run([program, "--strip-debug", ko], what=f"strip --strip-debug {ko.name}", package="binutils")


def check_key_pair(key: Path | None, cert: Path | None) -> None:
    if (key is None) != (cert is None):
        raise OfedError("--sign-key and --sign-cert go together: give both or neither")
    for what, p in (("--sign-key", key), ("--sign-cert", cert)):
        if not Path(p).is_file():
            raise OfedError(f"{what} {p}: no such file")


def sign_file_of(kernel_dir: Path | None, release: str) -> Path:
    """The target's own scripts/sign-file: it appends the signature in the layout its kernel reads."""
    if kernel_dir is None:
        raise OfedError(f"no build tree for {release} to take scripts/sign-file from: give --kernel-dir")
    sign_file = kernel_dir / "scripts" / "sign-file"
    if not os.access(sign_file, os.X_OK):
        raise OfedError(f"{sign_file} does not exist: the target's build tree has no sign-file")
    if _runs(sign_file):
        return sign_file
    # A target older than the host ships a sign-file linked against libraries the host no longer
    # has (Debian 11's needs libcrypto.so.1.1). The signature it appends (PKCS#7, then struct
    # module_signature and the magic string) has not changed since 4.x, so the host's own
    # kernel build tools sign the same way.
    for other in sorted(glob.glob("/usr/lib/linux-kbuild-*/scripts/sign-file")
                        + glob.glob("/usr/src/linux-headers-*/scripts/sign-file"), reverse=True):
        if _runs(Path(other)):
            ui.warn(f"{sign_file} does not run on this host (missing libraries): signing with {other}")
            return Path(other)
    raise OfedError(f"{sign_file} does not run on this host (missing libraries) and the host has no "
                    f"sign-file of its own: install linux-headers-amd64")


def _runs(program: Path) -> bool:
    """Does the program start? (Without arguments sign-file prints its usage and exits 1; a
    missing shared library makes the loader exit 127.)"""
    p = run([program], check=False)
    return p.returncode != 127 and "error while loading shared libraries" not in p.stderr


def sign(sign_file: Path, key: Path, cert: Path, ko: Path) -> None:
    """Append a sha256 module signature to ko in place."""
    run([sign_file, "sha256", key, cert, ko], what=f"sign-file on {ko.name}", package="linux-kbuild")
