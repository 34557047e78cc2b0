"""Boot the target's real kernel in QEMU with our modules and prove they load and carry traffic.

The guest is a self-made initramfs: busybox and rdma-core's tools from Debian (userland.py), our
built modules as an overlay under /lib/modules/<rel>/updates/ofed, and the distro modules they
need, chosen by modprobe's own resolution against a root holding both (updates/ wins, as on an
installed system). The guest's /init (recipes/vmtest-init.sh.j2) prints one marker line per step;
the host only reads the console, so nothing in the guest has to be trusted beyond its output.
"""

from __future__ import annotations

import gzip
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from . import cpio
from .. import ui
from ..proc import failure, require, run
from ..errors import Failed, OfedError
from ..fsutil import check_output, claim_dir, output_lock
from ..tree import BuiltTree, TargetHeaders, VmStep
from ..fetch.image import KernelImage
from ..kmod import build_id, modinfo, module_name
from ..kmod import sign as sign_module
from ..kmod import strip as strip_module
from .secureboot import Machine
from ..fetch.userland import Userland

GUEST_IP = "10.0.2.15"   # QEMU user networking's guest address; no DHCP needed in the guest
# Loaded first: rxe asks for crc32 at link-add time and a tiny guest has no modprobe to answer;
# the NIC is virtio-net. A name the kernel has built in (or lacks) is simply skipped.
PRELOAD = ("crc32_generic", "virtio_pci", "virtio_net")
CORE = ("ib_core", "ib_cm", "iw_cm", "rdma_cm", "ib_umad", "ib_uverbs_support", "ib_uverbs", "rdma_ucm")
ULPS = ("ib_ipoib", "ib_iser", "ib_srp", "nvme_rdma", "rpcrdma")  # first one in the tree is loaded
MARKER = re.compile(r"OFEDTEST (\S+) (PASS|FAIL|SKIP) (\S+) ?(.*)")
Step = VmStep  # one marker line of the guest's /init, as vmtest/result.json records it


@dataclass(frozen=True)
class Signing:
    """Sign our modules in the guest image (the target's sign-file, as `package --sign-key` does)
    and keep one unsigned copy, which the guest must see refused."""
    sign_file: Path
    key: Path
    cert: Path
    subject: str   # the signer's CN: the name of its key in the guest's /proc/keys


@dataclass(frozen=True)
class GuestTree:
    """What the guest gets from a built tree: its modules, for the release it was built for."""
    out: Path
    release: str
    target_id: str
    modules: dict[str, Path]   # name → .ko, in build order
    headers: TargetHeaders     # the target identity recorded by generate (for the image's version)


def load_tree(out: Path) -> GuestTree:
    """A directory written by `ofedtool build`, through tree.BuiltTree."""
    out = Path(out)
    if not (out / "result.json").exists() or not (out / "manifest.json").exists():
        raise OfedError(f"--tree {out}: not a built tree (no result.json/manifest.json; run ofedtool build -o {out})")
    bt = BuiltTree.open(out)
    mods = bt.kos()
    if not mods:
        raise OfedError(f"--tree {out}: no module was built")
    return GuestTree(bt.path, bt.release, bt.target_id, mods, bt.manifest.headers)


def with_extra(tree: GuestTree, extra: tuple[Path, ...]) -> GuestTree:
    """The tree's modules plus third-party ones built against it (a consumer of its -devel
    package): they go under updates/ with ours, load after their dependencies, and are checked
    by build-id like ours, so a load that binds to the inbox core instead cannot pass."""
    mods = dict(tree.modules)
    for ko in extra:
        ko = Path(ko)
        if not ko.is_file() or not ko.name.endswith(".ko"):
            raise OfedError(f"--extra-module {ko}: not a .ko file")
        name = ko.name[:-3]
        if name in mods:
            raise OfedError(f"--extra-module {ko}: {name} is already a module of the tree")
        mods[name] = ko
    return replace(tree, modules=mods)


class Overlay:
    """The distro's modules plus ours under updates/ofed, depmod'ed, in a scratch root: what an
    installed package would give, so modprobe picks modules as it would on the user's machine."""

    def __init__(self, image: KernelImage, ours: dict[str, Path], work: Path):
        self.release = image.release
        self.root = work / "modroot"
        d = self.root / "lib" / "modules" / image.release
        (d / "updates" / "ofed").mkdir(parents=True)
        # The distro tree is symlinked, not copied: depmod and modprobe follow it, it is ~400 MB.
        os.symlink(image.modules_dir / "kernel", d / "kernel")
        for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            if (image.modules_dir / f).exists():
                shutil.copy(image.modules_dir / f, d / f)
        for ko in ours.values():
            shutil.copy(ko, d / "updates" / "ofed" / ko.name)
        run(["depmod", "-b", self.root, image.release], what=f"depmod of the overlay for {image.release}",
            package="kmod")
        self.dir = d

    def closure(self, names: list[str], optional: bool = False) -> list[str]:
        """Module paths (relative to lib/modules/<rel>) to insmod, dependencies first."""
        seen: list[str] = []
        for name in names:
            p = run(["modprobe", "-d", self.root, "-S", self.release, "--show-depends", name],
                    check=False, package="kmod")
            if p.returncode != 0:
                if optional:
                    continue
                raise failure(f"modprobe --show-depends {name} on {self.release}", p, "modprobe", "kmod")
            for line in p.stdout.splitlines():
                if line.startswith("insmod "):
                    rel = os.path.relpath(line.split()[1], self.dir)
                    if rel not in seen:
                        seen.append(rel)
        return seen


def render_init(**kw) -> str:
    from ..templates import render
    return render("vmtest-init.sh.j2", **kw)


def _gid(ip: str) -> str:
    """The RoCE v2 GID sysfs shows for an IPv4 address: IPv4-mapped IPv6, 16-bit hex groups."""
    a, b, c, d = (int(x) for x in ip.split("."))
    return f"0000:0000:0000:0000:0000:ffff:{a << 8 | b:04x}:{c << 8 | d:04x}"


def _plain(rel: str) -> str:
    return re.sub(r"\.ko\.(xz|gz)$", ".ko", rel)


def _decompressed(rel: str, data: bytes) -> bytes:
    if rel.endswith(".xz"):
        return lzma.decompress(data)
    if rel.endswith(".gz"):
        return gzip.decompress(data)
    if not rel.endswith(".ko"):
        raise OfedError(f"{rel}: compressed module format the guest cannot load")
    return data


def _userland_entries(userland: Userland) -> list:
    """The initramfs minus modules and /init: device nodes, merged-/usr links, the userland."""
    entries = [cpio.chardev("dev/console", 5, 1), cpio.chardev("dev/null", 1, 3, 0o666)]
    entries += [cpio.symlink(d, f"usr/{d}") for d in ("bin", "sbin", "lib", "lib64")]
    # /init is a #!/bin/sh script: sh must exist before busybox installs its applets.
    entries += [cpio.directory("usr/sbin"), cpio.symlink("usr/bin/sh", "busybox")]
    for guest, rel in userland.files.items():
        src = userland.root / rel
        entries.append(cpio.file(guest, src.read_bytes(), 0o755 if os.access(src, os.X_OK) else 0o644))
    return entries


def _module_data(ov: Overlay, rel: str, tmp: Path, signing: Signing | None = None) -> bytes:
    """A module's bytes as the guest's insmod needs them."""
    src = ov.dir / rel
    if rel.startswith("updates/"):
        # Ours come unsigned from the build: dropping debug info shrinks the image ~10x.
        # (Never strip a signed module: its signature is at the end of the file.)
        stripped = tmp / "stripped.ko"
        shutil.copyfile(src, stripped)
        strip_module(stripped)
        if signing:
            sign_module(signing.sign_file, signing.key, signing.cert, stripped)
        return stripped.read_bytes()
    # Debian 6.12 ships .ko.xz; busybox's insmod passes the bytes to init_module, which wants a
    # plain ELF. The signature sits inside the compressed payload, so the decompressed file is
    # exactly the signed module.
    return _decompressed(src.name, src.read_bytes())


def iwarp_flush_warning(nvmet_rdma_c: Path) -> str:
    """Why NVMe-oF cannot run over siw without a kernel WARNING, from the target's own
    nvmet-rdma source, or "". Debian 11's nvmet_rdma_queue_connect() calls flush_scheduled_work()
    (the system workqueue) from its RDMA/CM handler; over iWARP that handler runs on iw_cm_wq,
    which is WQ_MEM_RECLAIM in 5.10.262's own iw_cm as in X's, and check_flush_dependency() warns.
    Later kernels flush their own nvmet_wq there."""
    try:
        src = nvmet_rdma_c.read_text(errors="replace")
    except OSError:
        return ""
    m = re.search(r"^static int nvmet_rdma_queue_connect\(.*?^}", src, re.S | re.M)
    if m and "flush_scheduled_work()" in m.group(0):
        return ("the target's nvmet_rdma_queue_connect() flushes the system workqueue from its RDMA/CM "
                "handler, which over iWARP runs on iw_cm_wq (WQ_MEM_RECLAIM, in the target's own iw_cm too): "
                "the kernel's check_flush_dependency WARNING, the target's own bug")
    return ""


# Buses whose drivers a module registers from its device table, as /sys/module/<name>/drivers
# lists them (pci:mlx5_core, auxiliary:mlx5_ib.rdma).
DEVICE_BUSES = ("pci", "auxiliary")


def device_table(ko: Path) -> tuple[list[str], list[str]]:
    """A module's device table from one modinfo: its buses (the modalias prefixes) and the
    auxiliary device names it matches (auxiliary:mlx4_core.ib → mlx4_core.ib), each sorted."""
    aliases = modinfo(ko, "alias").split()
    return (sorted({a.split(":", 1)[0] for a in aliases} & set(DEVICE_BUSES)),
            sorted(a.split(":", 1)[1] for a in aliases if a.startswith("auxiliary:")))


def _tree_name(tree: GuestTree, kernel_name: str) -> str:
    """The tree's module name (nvme-rdma) for the kernel's (nvme_rdma)."""
    return next(n for n in tree.modules if n.replace("-", "_") == kernel_name)


def shipped_modules(image: KernelImage) -> dict[str, Path]:
    """Every module file the target's image ships, by kernel name (nvme_rdma)."""
    return {module_name(str(p)): p for p in (image.modules_dir / "kernel").rglob("*.ko*")}


def build_initramfs(image: KernelImage, tree: GuestTree, userland: Userland, out: Path,
                    omit: tuple[str, ...] = (), signing: Signing | None = None, mok: str = "",
                    inbox_only: bool = False) -> dict:
    """Write out/initramfs.cpio.gz and out/init.sh; returns what went in (for the result).
    inbox_only: the same steps on the target's own module of each name the tree has (the
    baseline that tells a failure of ours from the distro's); what it does not ship is left out."""
    require("depmod", "kmod")
    require("modprobe", "kmod")
    unknown = [m for m in omit if m not in tree.modules]
    if unknown:
        raise OfedError(f"--omit-module {','.join(unknown)}: not a module of the tree ({', '.join(tree.modules)})")
    overlay_mods = {} if inbox_only else {n: k for n, k in tree.modules.items() if n not in omit}
    shipped = shipped_modules(image)
    # What the guest runs of each name (tree names: nvme-rdma), and whose it must be by build-id
    guest_mods = ({n: shipped[n.replace("-", "_")] for n in tree.modules if n.replace("-", "_") in shipped}
                  if inbox_only else tree.modules)
    present = set(guest_mods) if inbox_only else set(overlay_mods)
    with tempfile.TemporaryDirectory(prefix="vmtest-", dir=out) as tmp:
        ov = Overlay(image, overlay_mods, Path(tmp))
        base = [n for n in CORE if n in guest_mods] + (["rdma_rxe"] if "rdma_rxe" in guest_mods else [])
        load = ov.closure(list(PRELOAD), optional=True) + ov.closure(base)
        load = list(dict.fromkeys(load))
        siw = ov.closure(["siw"]) if "siw" in guest_mods else []
        ulp = next((u for u in ULPS if u in guest_mods), None)
        ulp_load = ov.closure([ulp]) if ulp else []
        # Every module of ours that the guest has (load-all), and NVMe-oF's both ends with
        # a ramdisk to serve when the tree has them.
        all_load = ov.closure(sorted(present, key=list(tree.modules).index))
        nvmeof = (ov.closure(["nvmet-rdma", "nvme-rdma", "brd"])
                  if {"nvme-rdma", "nvmet-rdma"} <= present else [])
        srp = ov.closure(["ib_srpt", "ib_srp", "sd_mod"]) if {"ib_srp", "ib_srpt"} <= present else []
        # iscsi_tcp: iscsiadm's SendTargets discovery runs over TCP before the iSER login
        iser = (ov.closure(["ib_isert", "ib_iser", "iscsi_tcp", "sd_mod"])
                if {"ib_iser", "ib_isert"} <= present else [])
        # NFS-RDMA: rpcrdma is both ends (xprtrdma and svcrdma); the NFS server and client, and
        # the client's version modules, which the kernel would ask modprobe for at mount time
        nfsrdma = ov.closure(["rpcrdma", "nfsd", "nfsv3", "nfsv4"]) if "rpcrdma" in present else []
        nvmeof_siw_skip = iwarp_flush_warning(tree.out / "drivers" / "nvme" / "target" / "rdma.c") if nvmeof else ""
        entries = _userland_entries(userland)
        unsigned = None
        for rel in dict.fromkeys(load + siw + ulp_load + all_load + nvmeof + srp + iser + nfsrdma):
            if signing and unsigned is None and rel.startswith("updates/"):
                # The first of ours to load, kept unsigned: under sig_enforce it must be refused.
                unsigned = f"unsigned/{Path(rel).name}"
                entries.append(cpio.file(f"usr/lib/modules/{image.release}/{unsigned}", _module_data(ov, rel, Path(tmp))))
            entries.append(cpio.file(f"usr/lib/modules/{image.release}/{_plain(rel)}",
                                     _module_data(ov, rel, Path(tmp), signing)))
        load, siw, ulp_load, all_load, nvmeof, srp, iser, nfsrdma = (
            [_plain(r) for r in x] for x in (load, siw, ulp_load, all_load, nvmeof, srp, iser, nfsrdma))
    # Kernel names (nvme_rdma): what /proc/modules and /sys/module say.
    ours = [(n.replace("-", "_"), build_id(k)) for n, k in guest_mods.items()]
    missing = [n for n, b in ours if not b]
    if missing:
        raise OfedError(f"{', '.join(missing)}: no GNU build-id note in the built module; cannot tell ours from inbox")
    inbox_dir = image.modules_dir / "kernel" / "drivers" / "infiniband"
    # and the distro's copy of every other module we replace (mlx5_core, mlxfw under drivers/net)
    names = {n for n, _ in ours}
    others = (p for n, p in shipped.items() if n in names and inbox_dir not in p.parents)
    inbox = sorted((module_name(str(p)), build_id(p), str(p.relative_to(image.modules_dir)))
                   for p in [*inbox_dir.rglob("*.ko*"), *others])
    load_names = [module_name(r) for r in load if module_name(r) in guest_mods]
    loaded_names = set(load_names) | ({"siw"} if siw else set()) | ({ulp} if ulp else set())
    all_names = [module_name(r) for r in all_load if module_name(r) in dict(ours)]
    loaded_names |= set(all_names)
    # rmmod order: dependents before what they use, the reverse of the load order.
    unload = list(reversed(all_names))
    drivers = [(n, *table) for n in all_names if (table := device_table(guest_mods[_tree_name(tree, n)]))[0]]
    sig = {"subject": signing.subject, "mok": mok or signing.subject, "unsigned": unsigned} if signing else None
    init = render_init(release=image.release, ip=GUEST_IP, gid=_gid(GUEST_IP), ours=ours, inbox=inbox,
                       load=load, load_names=load_names, siw=siw, ulp=ulp, ulp_load=ulp_load,
                       loaded_names=loaded_names, sig=sig, all_load=all_load, all_names=all_names,
                       nvmeof=nvmeof, srp=srp, iser=iser, nfsrdma=nfsrdma, nvmeof_siw_skip=nvmeof_siw_skip,
                       unload=unload, drivers=drivers, whose="the distro's" if inbox_only else "ours")
    (out / "init.sh").write_text(init)
    entries.append(cpio.file("init", init.encode(), 0o755))
    (out / "initramfs.cpio.gz").write_bytes(cpio.initramfs(entries))
    return {"load": load, "siw": siw, "ulp": ulp, "ulp_load": ulp_load, "all_load": all_load, "nvmeof": nvmeof, "srp": srp, "iser": iser,
            "nfsrdma": nfsrdma, "omitted": list(omit), "inbox_only": inbox_only,
            "not_shipped": sorted(set(tree.modules) - set(guest_mods)),
            "ours": dict(ours), "signed": bool(signing), "unsigned_copy": unsigned,
            "initramfs_bytes": (out / "initramfs.cpio.gz").stat().st_size}


def guest_needs(tree, omit=()) -> set[str]:
    """What the guest machine must have for the tree's modules (modules.toml guest=)."""
    from ..modules import load_catalog
    cat = load_catalog()
    return {g for n in tree.modules if n not in omit and n in cat.modules for g in cat.modules[n].guest}


def qemu_command(image: KernelImage, initrd: Path, accel: str, memory: int = 1024,
                 machine: Machine | None = None, root_disk: Path | None = None,
                 iommu: bool = False) -> list[str]:
    """QEMU's BIOS boot; with a Secure Boot machine, UEFI (OVMF runs the kernel's EFI stub) and
    module.sig_enforce=1, so an unsigned or untrusted module is refused, not just tainting.
    With root_disk (a raw ext4 image, virtio-blk), initrd is the system's own initramfs, which
    mounts it as / and hands over to its init (system.py's installed Debian). With iommu, a q35
    machine with an emulated Intel IOMMU, switched on, for the modules whose catalog entry asks
    for one (guest = ["iommu"])."""
    qemu = require("qemu-system-x86_64", "qemu-system-x86")
    cpu = "host" if accel == "kvm" else "max"  # TCG's default CPU lacks SSE4.2, which crc32c-intel needs
    boot = "root=/dev/vda rw" if root_disk else "rdinit=/init"
    append = (f"console=ttyS0 panic=-1 quiet loglevel=3 {boot}" + (" module.sig_enforce=1" if machine else "")
              + (" intel_iommu=on" if iommu else ""))
    disk = ["-drive", f"file={root_disk},format=raw,if=virtio,cache=unsafe"] if root_disk else []
    return [qemu, "-accel", accel, "-cpu", cpu, "-m", str(memory), "-smp", "1", "-nodefaults", "-no-reboot",
            *(["-machine", "q35", "-device", "intel-iommu"] if iommu else []),
            "-display", "none", "-serial", "stdio", "-monitor", "none", *(machine.qemu_args() if machine else []),
            "-kernel", str(image.vmlinuz), "-initrd", str(initrd), *disk,
            "-append", append,
            # romfile= : no iPXE option ROM needed for a -kernel boot
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,romfile="]


def boot(cmd: list[str], console: Path, timeout: float) -> tuple[list[Step], bool, float]:
    """Run QEMU, log the console, collect markers. (steps, timed_out, seconds)."""
    steps: list[Step] = []
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def reader() -> None:
        with open(console, "wb") as log:
            for raw in proc.stdout:
                log.write(raw)
                log.flush()
                m = MARKER.search(raw.decode(errors="replace").rstrip("\r\n"))
                if m:
                    guest = float(m.group(3)) if re.fullmatch(r"[\d.]+", m.group(3)) else -1.0
                    steps.append(Step(m.group(1), m.group(2), m.group(4).strip(), guest,
                                      round(time.monotonic() - t0, 2)))
                    ui.info(f"[vmtest] {m.group(1)} {m.group(2)} {m.group(4).strip()[:150]}")

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        proc.wait()
    th.join(timeout=10)
    return steps, timed_out, time.monotonic() - t0


def judge(steps: list[Step], timed_out: bool, timeout: float, rc_note: str = "") -> tuple[bool, str]:
    fails = [s for s in steps if s.status == "FAIL"]
    if fails:
        more = f" (+{len(fails) - 1} more failed: {', '.join(s.step for s in fails[1:])})" if len(fails) > 1 else ""
        return False, f"step {fails[0].step} failed: {fails[0].detail}{more}"
    if not any(s.step == "done" for s in steps):
        last = steps[-1].step if steps else "boot (no marker from /init)"
        why = f"timed out after {timeout:.0f}s" if timed_out else f"guest stopped{rc_note}"
        return False, f"step after {last}: {why} before finishing (see console.log)"
    return True, ""


def timings(steps: list[Step], total: float) -> dict[str, float]:
    """Host wall seconds per phase: boot (to /init), load (+identity check), traffic (rxe … rping), rest."""
    at = {s.step: s.host_s for s in steps}
    out = {"total": round(total, 1)}
    if "init" in at:
        out["boot"] = at["init"]
    if "init" in at and "ours" in at:
        out["load"] = round(at["ours"] - at["init"], 1)
    if "ours" in at and "rping" in at:
        out["traffic"] = round(at["rping"] - at["ours"], 1)
    if "rping" in at and "done" in at:
        out["siw_ulp_checks"] = round(at["done"] - at["rping"], 1)
    return out


# ---------------------------------------------------------------- the stage


@dataclass(frozen=True)
class VmRequest:
    selection: object                 # requests.Selection (kernel: a catalog target)
    build: object                     # requests.BuildOptions, for the build when tree is None
    tree: Path | None = None          # a built tree; None: build one under output/tree first
    output: Path | None = None        # default <tree>/vmtest, or build/vmtest-<target>_from-<X>
    timeout: float = 300
    accel: str = "tcg"
    omit: tuple[str, ...] = ()
    extra: tuple[Path, ...] = ()      # third-party modules built against the tree (its -devel): loaded too
    sign_key: Path | None = None
    sign_cert: Path | None = None
    mok_cert: Path | None = None
    conformance: bool = False         # also rdma-core's test suite: the inbox stack, then ours
    suite_timeout: float = 1500       # per conformance boot
    inbox: bool = False               # the same steps on the target's own modules: the baseline


def check_request(req: VmRequest):
    """Everything that can be refused before a download or a build; the target."""
    from ..catalog import resolve_target
    from ..kmod import check_key_pair
    if req.timeout <= 0:
        raise OfedError(f"--timeout {req.timeout}: must be positive")
    if req.suite_timeout <= 0:
        raise OfedError(f"--suite-timeout {req.suite_timeout}: must be positive")
    if req.conformance and (req.sign_key or req.sign_cert):
        raise OfedError("--conformance runs without --sign-key/--sign-cert (the suite boots are plain BIOS boots)")
    if req.inbox:
        clash = [o for o, on in (("--omit-module", req.omit), ("--extra-module", req.extra),
                                 ("--sign-key/--sign-cert", req.sign_key or req.sign_cert),
                                 ("--conformance", req.conformance)) if on]
        if clash:
            raise OfedError(f"--inbox boots none of our modules: it takes no {', '.join(clash)}")
    kernel = req.selection.kernel
    if kernel.startswith(("/", ".", "~", "local:")):
        raise OfedError(f"--kernel {kernel}: vmtest boots a distro kernel image: use a catalog kernel")
    target = resolve_target(kernel)
    if req.sign_key is None and req.sign_cert is None:
        if req.mok_cert:
            raise OfedError("--mok-cert needs --sign-key and --sign-cert (it replaces only what the MOK list trusts)")
    else:
        check_key_pair(req.sign_key, req.sign_cert)
        if req.mok_cert and not req.mok_cert.is_file():
            raise OfedError(f"--mok-cert {req.mok_cert}: no such file")
    return target


def run_vmtest(session, req: VmRequest, build_tree=None):
    """Boot, load, prove; writes <output>/result.json (tree.VmRecord) and returns the record.
    A failed guest step is an errors.Failed naming it, after the record is written."""
    target = check_request(req)
    sel = req.selection
    # Beside a given tree by default, where `ofedtool report TREE` finds it.
    # The baseline goes beside the tree's own proof, never over it.
    sub = "vmtest-inbox" if req.inbox else "vmtest"
    out = req.output or (req.tree / sub if req.tree else Path("build") / f"{sub}-{target.id}_from-{sel.from_}")
    check_output(out, "vmtest -o")
    with output_lock(out, "vmtest -o"):
        return _run_vmtest(session, req, target, claim_dir(out, "vmtest -o"), build_tree)


def _run_vmtest(session, req: VmRequest, target, out: Path, build_tree):
    from ..fetch.image import fetch_image
    from ..tree import VmRecord
    from ..fetch.userland import fetch_userland
    sel = req.selection
    t0 = time.monotonic()
    if req.tree:
        tree_dir = req.tree
    else:
        # The caller's build stage (pipeline.build): vmtest proves trees, it does not make them.
        tree_dir = build_tree(out / "tree")
    tree = with_extra(load_tree(tree_dir), req.extra)
    if tree.target_id != target.id:
        raise OfedError(f"--tree {tree_dir} was built for {tree.target_id}, not --kernel {sel.kernel} ({target.id})")
    built_s = time.monotonic() - t0
    with ui.stage("vmtest", f"kernel image and guest userland for {tree.release}"):
        image = fetch_image(session.cache, target, tree.headers, session.offline)
        userland = fetch_userland(session.cache, session.offline)
    t1 = time.monotonic()
    signing, machine = _secure_boot(req, session.cache, tree_dir, target, out)
    omit = req.omit
    what = (f"the target's own module of each of the tree's {len(tree.modules)} (--inbox)" if req.inbox else
            f"{len(tree.modules)} modules{' (omitting ' + ', '.join(omit) + ')' if omit else ''}")
    with ui.stage("vmtest", f"initramfs: busybox, rdma-core, {what}{' signed' if signing else ''}"):
        content = build_initramfs(image, tree, userland, out, omit, signing, machine.subject if machine else "",
                                  inbox_only=req.inbox)
    if content["not_shipped"]:
        ui.info(f"[vmtest] --inbox: {tree.release} ships no {', '.join(content['not_shipped'])}; left out")
    t2 = time.monotonic()
    # The same machine either way: a baseline on another machine would not tell ours from theirs.
    cmd = qemu_command(image, out / "initramfs.cpio.gz", req.accel, machine=machine,
                       iommu="iommu" in guest_needs(tree, omit))
    console = out / "console.log"
    mode = f", UEFI Secure Boot, MOK '{machine.subject}', sig_enforce" if machine else ""
    with ui.stage("vmtest", f"booting {image.package} {image.version} (qemu {req.accel}{mode}, timeout {req.timeout:.0f}s)"):
        steps, timed_out, qemu_s = boot(cmd, console, req.timeout)
    conf = None
    secs_conf: dict[str, float] = {}
    if req.conformance:
        conf, conf_step, secs_conf = run_conformance(session, image, tree, out, req)
        # Before "done": judge reads it as one more step of this boot's proof.
        at = next((i for i, st in enumerate(steps) if st.step == "done"), len(steps))
        steps.insert(at, conf_step)
    ok, reason = judge(steps, timed_out, req.timeout)
    secs = {"build": round(built_s, 1), "fetch": round(t1 - t0 - built_s, 1), "initramfs": round(t2 - t1, 1),
            **{f"qemu_{k}": v for k, v in timings(steps, qemu_s).items()}, **secs_conf}
    record = VmRecord(
        ok=ok, reason=reason, kernel=tree.release, target=target.id, tree=str(tree_dir),
        image={"package": image.package, "version": image.version},
        userland=[f"{p['package']}={p['version']}" for p in userland.packages],
        initramfs=content, qemu=cmd,
        secure_boot={"mok": machine.subject, "db": machine.db, "vars": str(machine.vars),
                     "firmware": str(machine.code)} if machine else None,
        console=str(console), seconds=secs, steps=tuple(steps), conformance=conf)
    record.write(out)
    if not ok:
        # One line naming the step; the table and result.json carry the rest.
        ui.info(text(record))
        raise Failed(f"vmtest on {tree.release}: {reason}")
    return record


# ---------------------------------------------------------------- conformance: rdma-core's suite


def build_conformance_initramfs(image: KernelImage, tree: GuestTree, userland: Userland, out: Path, run: str,
                                suite_timeout: float) -> dict:
    """out/initramfs.cpio.gz for one run of the suite: "ours" (the tree's core and rxe over the
    distro's kernel) or "inbox" (the kernel's own RDMA modules, the reference)."""
    from ..fetch.userland import PYTHON, SUITE
    require("depmod", "kmod")
    require("modprobe", "kmod")
    ours = tree.modules if run == "ours" else {}
    with tempfile.TemporaryDirectory(prefix="vmtest-", dir=out) as tmp:
        ov = Overlay(image, ours, Path(tmp))
        wanted = [n for n in (*CORE, "rdma_rxe") if (n in ours if ours else ov.closure([n], optional=True))]
        load = list(dict.fromkeys(ov.closure(list(PRELOAD), optional=True) + ov.closure(wanted)))
        entries = _userland_entries(userland)
        for rel in load:
            entries.append(cpio.file(f"usr/lib/modules/{image.release}/{_plain(rel)}", _module_data(ov, rel, Path(tmp))))
        load = [_plain(r) for r in load]
    names = [module_name(r) for r in load if module_name(r) in wanted]
    inbox_dir = image.modules_dir / "kernel" / "drivers" / "infiniband"
    inbox = sorted((module_name(str(p)), build_id(p), str(p.relative_to(image.modules_dir)))
                   for p in inbox_dir.rglob("*.ko*"))
    from ..templates import render
    init = render("vmtest-conformance.sh.j2", release=image.release, ip=GUEST_IP, gid=_gid(GUEST_IP), run=run,
                  ours=[(n.replace("-", "_"), build_id(k)) for n, k in ours.items()], inbox=inbox,
                  load=load, names=names, python=PYTHON, suite_dir=os.path.dirname(SUITE),
                  suite_timeout=int(suite_timeout))
    (out / "init.sh").write_text(init)
    entries.append(cpio.file("init", init.encode(), 0o755))
    (out / "initramfs.cpio.gz").write_bytes(cpio.initramfs(entries))
    return {"load": load, "modules": names, "initramfs_bytes": (out / "initramfs.cpio.gz").stat().st_size}


def suite_output(console: Path, tag: str = "OFEDSUITE") -> str:
    """What run_tests.py printed, from the guest's console (OFEDRETRY: the lone re-runs)."""
    line_rx = re.compile(tag + r" (.*)")
    lines = console.read_text(errors="replace").splitlines()
    return "\n".join(m.group(1).rstrip("\r") for line in lines if (m := line_rx.search(line)))


def run_conformance(session, image: KernelImage, tree: GuestTree, out: Path, req: VmRequest):
    """The suite on the target's kernel with its inbox stack, then with ours, one boot each;
    compared test by test (conformance.compare). (record dict, the `conformance` step, seconds)."""
    from . import conformance
    from ..fetch.userland import CONFORMANCE, fetch_userland
    with ui.stage("vmtest", "conformance guest userland (python3, python3-pyverbs and its tests)"):
        userland = fetch_userland(session.cache, session.offline, CONFORMANCE)
    runs: dict[str, conformance.Run] = {}
    secs: dict[str, float] = {}
    ref, why = _reference_image(session, tree)
    ui.info(f"[vmtest] conformance reference: {ref.package} {ref.version}, {why}" if ref else
            f"[vmtest] conformance: no upstream reference run: {why}")
    for name, img in (("inbox", image), ("ours", image), ("upstream", ref)):
        if img is None:
            continue
        d = out / f"conformance-{name}"
        d.mkdir()
        t0 = time.monotonic()
        content = build_conformance_initramfs(img, tree, userland, d, name, req.suite_timeout)
        cmd = qemu_command(img, d / "initramfs.cpio.gz", req.accel, memory=2048)
        timeout = req.suite_timeout + 180
        with ui.stage("vmtest", f"conformance run '{name}': rdma-core's tests on {img.release} "
                      f"({len(content['modules'])} modules, timeout {timeout:.0f}s)"):
            steps, timed_out, qemu_s = boot(cmd, d / "console.log", timeout)
        secs[f"conformance_{name}"] = round(time.monotonic() - t0, 1)
        runs[name] = conformance.Run.from_boot(name, img.release, steps, timed_out, suite_output(d / "console.log"),
                                              str(d / "console.log"), content["initramfs_bytes"], round(qemu_s, 1),
                                              suite_output(d / "console.log", "OFEDRETRY"))
    result = conformance.compare(runs)
    record = {**result.as_dict(), "reference": ({"package": ref.package, "version": ref.version, "why": why}
                                                if ref else {"why": why})}
    return record, VmStep("conformance", "PASS" if result.ok else "FAIL", result.summary(), -1.0,
                                    round(sum(secs.values()), 1)), secs


def _reference_image(session, tree: GuestTree):
    """X's own kernel from Debian for the upstream run: (image, why) or (None, why not)."""
    from ..catalog import load_sources
    from ..fetch.image import fetch_reference_image
    version = BuiltTree.open(tree.out).manifest.source.get("version", "")
    series = ".".join(version.split(".")[:2])
    source = load_sources().get(series)
    if source is None:
        return None, f"source release {version or '?'} is not in the catalog (kernels/sources)"
    return fetch_reference_image(session.cache, source, version, offline=session.offline)


def text(record) -> str:
    """The human summary of a tree.VmRecord."""
    rows = [f"{s.step:<12} {s.status:<5} {s.host_s:>6.1f}s  {s.detail[:100]}" for s in record.steps]
    inbox = (record.initramfs or {}).get("inbox_only")
    rows.append(f"{'PASS' if record.ok else 'FAIL'}: {record.kernel} ({record.image['package']} "
                f"{record.image['version']}) with " + (f"its own modules (the baseline of {record.tree})" if inbox
                                                       else record.tree)
                + ("" if record.ok else f": {record.reason}"))
    rows.append("wall: " + ", ".join(f"{k} {v}s" for k, v in record.seconds.items()))
    rows.append(f"console: {record.console}")
    return "\n".join(rows)


def _secure_boot(req: VmRequest, cache, tree_dir: Path, target, out: Path) -> tuple[Signing | None, Machine | None]:
    """With --sign-key/--sign-cert: the signing of our modules and the Secure Boot machine."""
    from . import secureboot
    from ..fetch.headers import find_build_dir
    from ..kmod import sign_file_of
    if req.sign_key is None and req.sign_cert is None:
        return None, None
    mok = req.mok_cert or req.sign_cert
    bt = BuiltTree.open(tree_dir)
    sign_file = sign_file_of(find_build_dir(cache, bt.manifest.target, bt.release), bt.release)
    machine = secureboot.machine(out, mok, target.distro)
    signer = secureboot.subject_cn(req.sign_cert)
    return Signing(sign_file, req.sign_key.absolute(), req.sign_cert.absolute(), signer), machine
