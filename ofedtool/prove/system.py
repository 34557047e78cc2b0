"""Our packages on a real Debian system, installed, booted, updated and removed as an admin would.

The system is a copy of the cached mmdebstrap image of the target's release (fetch/sysimage.py).
Package work runs chrooted in that copy with the image's own apt, dpkg, dkms and initramfs-tools
(never the host's), in a private mount namespace so no mount outlives the step. Each boot writes
the copy into an ext4 disk (`mke2fs -d`, no loop mount) and boots the system's own kernel and
initramfs on it in QEMU; systemd runs the generated check (recipes/system-check.sh.j2), which
only asks the kernel for an rxe link: modprobe, resolving through depmod's index, decides whose
modules load. The host reads the verdict from the serial console with vmtest's parser.

Steps, each a VmStep in the record ("<phase>:<step>" for a boot's guest lines):
  image, install, boot(kernel), [update, boot(new kernel)], purge, [boot(kernel) after purge].
The kernel update expects our modules on the new kernel exactly when the installed DKMS package
says it builds there (its BUILD_EXCLUSIVE_KERNEL matches) and no failure was planted; otherwise it
expects a clean install of the kernel, a bootable initramfs, and the inbox modules.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .. import ui
from ..errors import Failed, OfedError
from ..fsutil import atomic_write, check_output, claim_dir, output_lock
from ..kmod import build_id, module_name
from ..proc import require, run
from ..tree import VmStep
from ..fetch.image import KernelImage
from ..fetch.sysimage import SystemImage, tree_bytes
from .vmtest import GUEST_IP, _gid, boot, judge

SCHEMA = "ofedtool-system/1"
CHECK = "usr/local/lib/ofedtool/system-check.sh"
UNIT = "etc/systemd/system/ofedtool-system-check.service"
WANTS = "etc/systemd/system/multi-user.target.wants/ofedtool-system-check.service"
PKGDIR = "root/ofedtool-packages"   # where our .debs are put for apt inside the system
# A DKMS build that refuses: what a package whose probe kit rejects the new kernel does.
PLANTED = "echo \"planted failure (ofedtool system test): refusing $1\" >&2; exit 1\n"

UNIT_TEXT = """[Unit]
Description=ofedtool system test: RDMA on the installed stack
After=multi-user.target systemd-udev-settle.service
Wants=systemd-udev-settle.service

[Service]
Type=oneshot
ExecStart=/bin/sh /{check}
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class SystemRequest:
    packages: Path                 # a package dir (ofedtool build --package deb,dkms / ofedtool package)
    output: Path
    install: str = "deb"           # deb: <name>-modules-<kver>; dkms: <name>-dkms, built in the system
    update: str | None = None      # catalog target whose kernel is installed as the update (6.12)
    plant: bool = False            # make the DKMS build for the update's kernel fail
    purge_boot: bool = False       # boot once more after the purge (the inbox stack at boot)
    timeout: float = 300           # per boot
    accel: str = "tcg"
    keep: bool = False             # keep the system's root and disks (else removed, pass or fail)
    kernel: str | None = None      # --kernel: the packages must be for this catalog target


@dataclass
class Flow:
    """The steps as they happen (host steps and guest lines), for the record and for progress."""
    t0: float = field(default_factory=time.monotonic)
    steps: list[VmStep] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def step(self, name: str, ok: bool | None, detail: str) -> bool:
        status = "SKIP" if ok is None else "PASS" if ok else "FAIL"
        self.steps.append(VmStep(name, status, detail, -1.0, round(time.monotonic() - self.t0, 1)))
        ui.info(f"[system] {name} {status} {detail[:200]}")
        return bool(ok)

    def failed(self) -> bool:
        return any(s.status == "FAIL" for s in self.steps)


# ---------------------------------------------------------------- the system copy


def chroot(root: Path, cmd: list[str], what: str, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess:
    """cmd inside the system, with its own tools: /dev, /proc, /sys and a /tmp mounted in a
    private mount namespace (gone when the command ends, even if it is killed).

    The command runs in its own PID namespace too, under a shell as its init: when unshare dies
    (Ctrl-C and a timeout kill it; setpriv's parent-death signal kills it when ofedtool itself is
    killed) the kernel kills every process of the namespace, so no apt, dpkg or dkms build of a
    killed run keeps working in a root that is about to be removed."""
    require("unshare", "util-linux")
    setpriv = require("setpriv", "util-linux")
    # sh stays the namespace's init (no exec): it reaps what the package scripts orphan
    script = ('R=$1; shift; mount --rbind /dev "$R/dev" && mount -t proc proc "$R/proc" && '
              'mount -t sysfs sys "$R/sys" && mount -t tmpfs tmpfs "$R/tmp" && chroot "$R" "$@"')
    env = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LANG=C.UTF-8", "HOME=/root"]
    p = run([setpriv, "--pdeathsig", "KILL", "--", "unshare", "--mount", "--propagation", "private", "--pid",
             "--kill-child=KILL", "--", "sh", "-c", script, "chroot", root, *env, *cmd],
            check=False, timeout=timeout)
    if check and p.returncode != 0:
        out = (p.stdout + p.stderr).strip().splitlines()
        raise OfedError(f"{what}: {out[-1] if out else 'failed'} (exit {p.returncode})")
    return p


def copy_system(image: SystemImage, dest: Path) -> Path:
    """A private copy of the cached root (reflinked where the filesystem can)."""
    require("cp", "coreutils")
    run(["cp", "-a", "--reflink=auto", image.root, dest], what=f"copy of the system image to {dest}")
    return dest


def remove_system(out: Path) -> None:
    """What a run made in its (claimed) output dir and a record does not need: the system's root
    (a 1.5 GB copy) and boot disks. Passed, failed or interrupted alike; --keep-system keeps them."""
    if (out / "root").exists():
        shutil.rmtree(out / "root")
    for disk in out.glob("*.img"):
        disk.unlink()


def write_disk(root: Path, disk: Path) -> int:
    """root as a raw ext4 image (mke2fs -d: populated from the directory, no loop mount); bytes."""
    mke2fs = require("mke2fs", "e2fsprogs")
    # Room for the first boot's journal and logs on top of the files, ext4's own overhead.
    size_mb = int(tree_bytes(root) * 1.2 / 2**20) + 512
    disk.unlink(missing_ok=True)
    with open(disk, "wb") as f:
        f.truncate(size_mb * 2**20)
    run([mke2fs, "-q", "-F", "-t", "ext4", "-L", "root", "-d", root, disk], what=f"mke2fs -d {root}", package="e2fsprogs")
    return disk.stat().st_size


def guest_script(release: str, expect: str, ours: list[tuple[str, str]], inbox: list[tuple[str, str, str]]) -> str:
    from ..templates import render
    return render("system-check.sh.j2", system=True, release=release, ip=GUEST_IP, gid=_gid(GUEST_IP),
                  expect=expect, ours=ours, inbox=inbox)


def inbox_modules(root: Path, release: str) -> list[tuple[str, str, str]]:
    """The kernel's own RDMA modules in the system: (name, build-id, path under lib/modules/<rel>)."""
    mods = root / "lib" / "modules" / release
    return sorted((module_name(str(p)), build_id(p), str(p.relative_to(mods)))
                  for p in (mods / "kernel" / "drivers" / "infiniband").rglob("*.ko*"))


def boot_system(flow: Flow, root: Path, out: Path, phase: str, release: str, expect: str,
                ours: list[tuple[str, str]], req: SystemRequest) -> bool:
    """Boot `release` of the system in root with the check installed; its lines become steps."""
    check = root / CHECK
    check.parent.mkdir(parents=True, exist_ok=True)
    check.write_text(guest_script(release, expect, ours, inbox_modules(root, release)))
    (root / UNIT).write_text(UNIT_TEXT.format(check=CHECK))
    wants = root / WANTS
    wants.parent.mkdir(parents=True, exist_ok=True)
    wants.unlink(missing_ok=True)
    wants.symlink_to(f"/{UNIT}")
    # The serial console carries the verdict: no login prompt on it.
    getty = root / "etc/systemd/system/serial-getty@ttyS0.service"
    getty.unlink(missing_ok=True)
    getty.symlink_to("/dev/null")
    disk = out / f"{phase}.img"
    try:
        t0 = time.monotonic()
        size = write_disk(root, disk)
        flow.seconds[f"{phase}_disk"] = round(time.monotonic() - t0, 1)
    finally:
        for p in (root / CHECK, root / UNIT, wants, getty):
            p.unlink(missing_ok=True)
    vmlinuz, initrd = root / "boot" / f"vmlinuz-{release}", root / "boot" / f"initrd.img-{release}"
    if not initrd.is_file() or initrd.stat().st_size == 0:
        return flow.step(f"{phase}:initramfs", False, f"/boot/initrd.img-{release} is missing or empty: not bootable")
    from .vmtest import qemu_command
    image = KernelImage(root, vmlinuz, root / "lib" / "modules" / release, release, f"linux-image-{release}", "")
    cmd = qemu_command(image, initrd, req.accel, memory=1024, root_disk=disk)
    console = out / f"{phase}.console.log"
    with ui.stage("system", f"{phase}: booting the system's {release} from a {size >> 20} MiB ext4 disk "
                  f"(qemu {req.accel}, expecting {expect} modules, timeout {req.timeout:.0f}s)"):
        steps, timed_out, qemu_s = boot(cmd, console, req.timeout)
    flow.seconds[f"{phase}_qemu"] = round(qemu_s, 1)
    flow.steps += phase_steps(phase, steps, time.monotonic() - flow.t0 - qemu_s)
    ok, reason = judge(steps, timed_out, req.timeout)
    disk.unlink(missing_ok=True)
    if not ok and not any(s.status == "FAIL" for s in steps):
        flow.step(f"{phase}:boot", False, f"{reason} ({console})")
    return ok


def phase_steps(phase: str, steps: list[VmStep], base: float) -> list[VmStep]:
    """A boot's guest lines as the flow's steps: named by the boot, timed from the flow's start."""
    return [VmStep(f"{phase}:{s.step}", s.status, s.detail, s.guest_s, round(base + s.host_s, 1)) for s in steps]


def dkms_verdict(expect_ours: bool, status: str, modules: int) -> bool:
    """The update's DKMS outcome against what the package says: built and installed where it
    supports the kernel; otherwise nothing of ours for it (refused or failed, never half there)."""
    installed = "installed" in status
    return installed and modules > 0 if expect_ours else not installed and modules == 0


# ---------------------------------------------------------------- the packages


@dataclass(frozen=True)
class Packages:
    dir: Path
    name: str
    version: str
    kernel: str
    target: str
    modules: tuple[str, ...]
    deb: Path             # the one to install: <name>-modules-<kver>_..._<arch>.deb or <name>-dkms_..._all.deb
    kos: dict             # module name -> build-id of the binary .deb's .ko ({} for dkms)


def load_packages(d: Path, install: str) -> Packages:
    d = Path(d)
    try:
        meta = json.loads((d / "packages.json").read_text())
        debs = meta["packages"]["deb"]
    except (OSError, ValueError, KeyError, TypeError):
        raise OfedError(f"--packages {d}: no packages.json with .deb packages "
                        f"(make them with ofedtool build --package deb,dkms or ofedtool package --format deb,dkms)") from None
    name, kernel = meta["name"], meta["kernel"]
    wanted = f"{name}-modules-{kernel}" if install == "deb" else f"{name}-dkms"
    deb = next((d / f for f in debs if f.startswith(f"{wanted}_")), None)
    if deb is None or not deb.is_file():
        raise OfedError(f"--packages {d}: no {wanted} .deb there (--package deb,dkms makes it)")
    return Packages(d, name, meta["version"], kernel, meta["target"], tuple(meta["modules"]), deb,
                    deb_build_ids(deb) if install == "deb" else {})


def deb_build_ids(deb: Path) -> dict[str, str]:
    """name -> build-id of each .ko the binary .deb ships (what must be running after the boot)."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="ofedtool-deb-") as tmp:
        run(["dpkg-deb", "-x", deb, tmp], what=f"dpkg-deb -x {deb.name}", package="dpkg")
        return {module_name(str(p)).replace("-", "_"): build_id(p) for p in sorted(Path(tmp).rglob("*.ko"))}


def built_ids(root: Path, release: str, name: str) -> dict[str, str]:
    """name -> build-id of our modules installed in the system for release (by dpkg or dkms)."""
    upd = root / "lib" / "modules" / release / "updates"
    return {module_name(str(p)).replace("-", "_"): build_id(p) for p in sorted(upd.rglob("*.ko*"))} if upd.is_dir() else {}


def dkms_exclusive(root: Path, pkgs: Packages) -> str:
    """The installed DKMS package's BUILD_EXCLUSIVE_KERNEL: which kernels it says it builds on."""
    conf = root / "usr" / "src" / f"{pkgs.name}-{pkgs.version}" / "dkms.conf"
    m = re.search(r'^BUILD_EXCLUSIVE_KERNEL="([^"]*)"', conf.read_text(), re.M) if conf.is_file() else None
    return m.group(1) if m else ""


def supports(exclusive: str, release: str) -> bool:
    """dkms's own test (bash =~, an ERE): no BUILD_EXCLUSIVE_KERNEL means every kernel."""
    return not exclusive or re.search(exclusive, release) is not None


def plant_failure(root: Path, pkgs: Packages, release: str) -> None:
    """The DKMS build for `release` fails as a probe kit's refusal does: dkms lets the kernel
    through (BUILD_EXCLUSIVE widened to it) and the kit exits non-zero before any compile."""
    src = root / "usr" / "src" / f"{pkgs.name}-{pkgs.version}"
    conf = src / "dkms.conf"
    text = re.sub(r'^BUILD_EXCLUSIVE_KERNEL(_MIN|_MAX)?=.*\n', "", conf.read_text(), flags=re.M)
    conf.write_text(text)
    kit = src / "probekit" / "probe.sh"
    body = kit.read_text()
    first, _, rest = body.partition("\n")
    kit.write_text(f"{first}\n[ \"$1\" = {release} ] && {{ {PLANTED.strip()}; }}\n{rest}")


# ---------------------------------------------------------------- the flow


def run_system(session, req: SystemRequest, image_for, newest_release) -> dict:
    """The whole flow; writes <output>/result.json. image_for(target) -> SystemImage (pipeline's
    fetch); newest_release(target) -> the newest kernel release of a catalog target (the update).
    A failed step is errors.Failed naming it, after the record is written."""
    if req.install not in ("deb", "dkms"):
        raise OfedError(f"--system {req.install}: one of deb, dkms")
    if req.timeout <= 0:
        raise OfedError(f"--timeout {req.timeout}: must be positive")
    if req.install == "deb" and req.update:
        raise OfedError("--update-kernel needs --system dkms (the binary .deb is for one kernel)")
    if req.plant and not req.update:
        raise OfedError("--plant-failure needs --update-kernel (it fails the DKMS build for the new kernel)")
    pkgs = load_packages(req.packages, req.install)
    from ..catalog import resolve_target
    if req.kernel and resolve_target(req.kernel).id != pkgs.target:
        raise OfedError(f"--packages {pkgs.dir}: made for {pkgs.target}, not --kernel {req.kernel} ({resolve_target(req.kernel).id})")
    if req.update:
        mine, new = resolve_target(pkgs.target), resolve_target(req.update)
        if (new.distro, new.release, new.arch) != (mine.distro, mine.release, mine.arch) or new.id == mine.id:
            raise OfedError(f"--update-kernel {req.update}: {new.id} is not another kernel of {mine.name}'s release")
    check_output(req.output, "vmtest -o")
    with output_lock(req.output, "vmtest -o"):
        out = claim_dir(req.output, "vmtest -o")
        flow = Flow()
        record = {"schema": SCHEMA, "packages": str(pkgs.dir), "name": pkgs.name, "version": pkgs.version,
                  "kernel": pkgs.kernel, "target": pkgs.target, "install": req.install, "update": None,
                  "planted": req.plant}
        root = out / "root"
        try:
            try:
                _flow(req, pkgs, flow, record, out, root, image_for, newest_release)
            except OfedError as e:
                flow.step("error", False, str(e))
        finally:
            if not req.keep:
                remove_system(out)
        ok = not flow.failed()
        fails = [s for s in flow.steps if s.status == "FAIL"]
        record.update(ok=ok, reason="" if ok else f"step {fails[0].step} failed: {fails[0].detail}",
                      seconds={**flow.seconds, "total": round(time.monotonic() - flow.t0, 1)},
                      steps=[s.__dict__ for s in flow.steps])
        atomic_write(out / "result.json", json.dumps(record, indent=2) + "\n")
    if not ok:
        ui.info(text(record))
        raise Failed(f"system test of {pkgs.name} on {pkgs.kernel}: {record['reason']}")
    return record


@contextmanager
def _timed(flow: Flow, key: str):
    t = time.monotonic()
    try:
        yield
    finally:
        flow.seconds[key] = round(time.monotonic() - t, 1)


def _flow(req: SystemRequest, pkgs: Packages, flow: Flow, record: dict, out: Path, root: Path, image_for,
          newest_release) -> None:
    from ..catalog import resolve_target
    target = resolve_target(pkgs.target)
    with _timed(flow, "image"), ui.stage("system", f"{target.name}: system image with {pkgs.kernel}"):
        image = image_for(target, pkgs.kernel)
    m = image.manifest
    record["image"] = {"spec": m["spec"], "made_s": m["seconds"], "bytes": m["bytes"], "packages": len(m["packages"])}
    flow.step("image", True, f"{image.spec.suite} by mmdebstrap, {len(m['packages'])} packages, "
              f"{m['bytes'] / 2**20:.0f} MiB, made in {m['seconds']:.0f}s")
    with _timed(flow, "copy"):
        if root.exists():
            shutil.rmtree(root)  # an earlier run's system in this (claimed, ours) output dir
        copy_system(image, root)
    (root / PKGDIR).mkdir(parents=True, exist_ok=True)
    deb = pkgs.deb
    shutil.copy(deb, root / PKGDIR / deb.name)
    pkg_name = deb.name.split("_")[0]
    kver = pkgs.kernel

    # -- install, as an admin would: apt resolves the .deb's dependencies from the release
    with _timed(flow, "install"), ui.stage("system", f"apt-get install ./{deb.name} in the system"
                                           + (" (dkms builds it there)" if req.install == "dkms" else "")):
        p = chroot(root, ["apt-get", "install", "-y", "--no-install-recommends", f"/{PKGDIR}/{deb.name}"],
                   "install", check=False)
    (out / "install.log").write_text(p.stdout + p.stderr)
    if not flow.step("install", p.returncode == 0, f"apt-get install {deb.name}: exit {p.returncode}"
                     + ("" if p.returncode == 0 else f": {_last(p)}")):
        return
    ours = built_ids(root, kver, pkgs.name)
    if req.install == "deb":
        same = ours == pkgs.kos
        flow.step("installed", same, f"{len(ours)} modules under /lib/modules/{kver}/updates" +
                  ("" if same else f" differ from the .deb's {sorted(pkgs.kos)}"))
    else:
        st = chroot(root, ["dkms", "status", "-m", pkgs.name, "-v", pkgs.version], "dkms status", check=False).stdout.strip()
        flow.step("installed", f"{kver}" in st and "installed" in st and bool(ours),
                  f"dkms status: {st or 'nothing'}; {len(ours)} modules under /lib/modules/{kver}/updates, "
                  f"built in the system in {flow.seconds['install']:.0f}s")
    resolved = chroot(root, ["modinfo", "-k", kver, "-n", "rdma_rxe"], "modinfo", check=False).stdout.strip()
    flow.step("depmod", f"/lib/modules/{kver}/updates/" in resolved, f"modinfo -k {kver} -n rdma_rxe: {resolved}")
    if flow.failed():
        return
    boot_system(flow, root, out, "boot", kver, "ours", sorted(ours.items()), req)

    # -- kernel update within the release
    if req.update:
        _update(flow, req, pkgs, record, out, root, newest_release)

    # -- uninstall
    with _timed(flow, "purge"):
        p = chroot(root, ["apt-get", "purge", "-y", pkg_name], "purge", check=False)
    (out / "purge.log").write_text(p.stdout + p.stderr)
    flow.step("purge", p.returncode == 0, f"apt-get purge {pkg_name}: exit {p.returncode}"
              + ("" if p.returncode == 0 else f": {_last(p)}"))
    _after_purge(flow, root, pkgs)
    if req.purge_boot and not flow.failed():
        boot_system(flow, root, out, "boot_purged", kver, "inbox", [], req)


def _update(flow: Flow, req: SystemRequest, pkgs: Packages, record: dict, out: Path, root: Path, newest_release) -> None:
    from ..catalog import resolve_target
    new_target = resolve_target(req.update)
    new = newest_release(new_target)
    supported = supports(dkms_exclusive(root, pkgs), new)
    expect_ours = supported and not req.plant
    record["update"] = {"target": new_target.id, "kernel": new, "dkms_supports": supported, "expect": "ours" if expect_ours else "inbox"}
    if req.plant:
        plant_failure(root, pkgs, new)
    with _timed(flow, "update"), ui.stage("system", f"kernel update: apt-get update; apt-get install linux-image-{new} "
                                          f"linux-headers-{new} (dkms {'must build ours' if expect_ours else 'must fail or skip without harm'})"):
        # mmdebstrap leaves no package lists: the admin's `apt-get update` first
        p = chroot(root, ["apt-get", "update"], "update", check=False)
        if p.returncode == 0:
            p = chroot(root, ["apt-get", "install", "-y", "--no-install-recommends", f"linux-image-{new}", f"linux-headers-{new}"],
                       "update", check=False)
    (out / "update.log").write_text(p.stdout + p.stderr)
    flow.step("update", p.returncode == 0, f"apt-get install linux-image-{new}: exit {p.returncode}"
              + ("" if p.returncode == 0 else f": {_last(p)}"))
    broken = chroot(root, ["dpkg", "--audit"], "dpkg --audit", check=False).stdout.strip()
    flow.step("update_dpkg", not broken, "dpkg --audit: " + (broken.splitlines()[0] if broken else "every package configured"))
    initrd = root / "boot" / f"initrd.img-{new}"
    flow.step("update_initramfs", initrd.is_file() and initrd.stat().st_size > 0,
              f"/boot/initrd.img-{new}: {initrd.stat().st_size if initrd.is_file() else 'missing'} bytes")
    st = chroot(root, ["dkms", "status", "-m", pkgs.name, "-k", new], "dkms status", check=False).stdout.strip()
    ours = built_ids(root, new, pkgs.name)
    why = ("supported: must build" if expect_ours else "planted failure" if req.plant
           else f"the package's BUILD_EXCLUSIVE_KERNEL excludes {new}")
    flow.step("update_dkms", dkms_verdict(expect_ours, st, len(ours)),
              f"{why}: dkms status {st or 'nothing'}; {len(ours)} modules of ours for {new}; "
              f"{_dkms_said(p.stdout + p.stderr)}")
    if flow.failed():
        return
    boot_system(flow, root, out, "boot_update", new, "ours" if expect_ours else "inbox", sorted(ours.items()), req)


def _after_purge(flow: Flow, root: Path, pkgs: Packages) -> None:
    left = sorted(str(p.relative_to(root)) for p in (root / "lib" / "modules").glob("*/updates/**/*") if not p.is_dir())
    flow.step("purge_updates", not left, "nothing under /lib/modules/*/updates" if not left else f"left: {', '.join(left[:5])}")
    conf = root / "etc" / "depmod.d" / f"{pkgs.name}.conf"
    src = root / "usr" / "src" / f"{pkgs.name}-{pkgs.version}"
    gone = [str(p.relative_to(root)) for p in (conf, src, root / "var/lib/dkms" / pkgs.name,
                                                root / "var/lib" / f"{pkgs.name}-dkms",
                                                root / "etc/kernel/postinst.d" / f"00-{pkgs.name}-dkms") if p.exists()]
    flow.step("purge_files", not gone, "no depmod.d file, DKMS source or dkms tree of ours" if not gone else f"left: {', '.join(gone)}")
    for kdir in sorted((root / "lib" / "modules").iterdir()):
        k = kdir.name
        if not (kdir / "modules.dep").exists():
            continue
        p = chroot(root, ["depmod", "-a", k], "depmod", check=False)
        where = chroot(root, ["modinfo", "-k", k, "-n", "rdma_rxe"], "modinfo", check=False).stdout.strip()
        clean = p.returncode == 0 and not p.stderr.strip() and "updates/" not in (kdir / "modules.dep").read_text()
        flow.step(f"purge_depmod:{k}", clean and f"/lib/modules/{k}/kernel/" in where,
                  f"depmod -a {k}: exit {p.returncode} {p.stderr.strip()[:200]}; rdma_rxe resolves to {where}")


def _last(p: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in (p.stderr or p.stdout).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _dkms_said(log: str) -> str:
    """dkms's own lines about the build for the new kernel, for the record's detail."""
    keep = [ln.strip() for ln in log.splitlines()
            if re.search(r"dkms|autoinstall|planted|BUILD_EXCLUSIVE|Error|error:", ln) and "Setting up" not in ln]
    return " | ".join(keep[-4:])[:400]


def text(record: dict) -> str:
    rows = [f"{s['step']:<28} {s['status']:<5} {s['host_s']:>7.1f}s  {s['detail'][:110]}" for s in record.get("steps", [])]
    rows.append(f"{'PASS' if record.get('ok') else 'FAIL'}: {record['name']} {record['version']} on a {record['target']} "
                f"system ({record['install']}{', update ' + record['update']['kernel'] if record.get('update') else ''})"
                + ("" if record.get("ok") else f": {record.get('reason')}"))
    rows.append("wall: " + ", ".join(f"{k} {v}s" for k, v in record.get("seconds", {}).items()))
    return "\n".join(rows)
