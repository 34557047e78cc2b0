"""vmtest --system: our .debs installed with apt on a real Debian (mmdebstrap) and booted there.

Quick tier: the image's spec, the boot disk (mke2fs -d, read back with debugfs), the guest check
script (rendered, shell-parsed, and never loading a module itself), the console lines of a boot as
the record's steps, the kernel-update expectations (dkms's own BUILD_EXCLUSIVE test) and the
planted failure, which must make the real probe-kit entry point exit non-zero for that kernel only.

Slow + network, for CI: Debian 12's 6.1 with the binary <name>-modules-<kver> .deb — image, apt
install, boot the system's kernel (ours loaded by modprobe, build-ids), purge (the inbox modules are
back). The DKMS, kernel-update and Debian 11 flows are `release`-marked (bench/system.py runs them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import error_line, run_cli
from ofedtool.catalog import resolve_target
from ofedtool.fetch.sysimage import BASE_PACKAGES, mmdebstrap_command, spec_for
from ofedtool.prove import system
from ofedtool.prove.vmtest import MARKER


def test_spec_is_the_targets_release_on_ofedtools_mirrors():
    t = resolve_target("6.1")
    spec = spec_for(t, "6.1.0-57-amd64", "6.1.192-3")
    assert spec.suite == "bookworm"
    assert spec.sources == ("deb http://deb.debian.org/debian bookworm main",
                            "deb http://deb.debian.org/debian bookworm-updates main",
                            "deb http://deb.debian.org/debian-security bookworm-security main")
    assert spec.release == "6.1.0-57-amd64"
    cmd = mmdebstrap_command(spec, "/x/root")
    inc = next(a for a in cmd if a.startswith("--include="))[len("--include="):].split(",")
    assert inc[:2] == ["linux-image-6.1.0-57-amd64=6.1.192-3", "linux-headers-6.1.0-57-amd64=6.1.192-3"]
    assert {"dkms", "rdma-core", "ibverbs-utils", "rdmacm-utils", "udev", "systemd-sysv"} <= set(inc)
    assert cmd[-5:-3] == ["bookworm", "/x/root"]
    # the key names the content: another kernel upload or package set is another entry
    assert spec.key == spec_for(t, "6.1.0-57-amd64", "6.1.192-3").key
    assert spec.key != spec_for(t, "6.1.0-57-amd64", "6.1.192-4").key
    from dataclasses import replace
    assert spec.key != replace(spec, packages=BASE_PACKAGES + ("nvme-cli",)).key
    eleven = spec_for(resolve_target("5.10"), "5.10.0-46-amd64", "5.10.262-1")
    assert eleven.suite == "bullseye" and eleven.sources[-1].endswith("bullseye-security main")


def test_boot_disk_holds_the_directory(tmp_path):
    if not shutil.which("debugfs"):
        pytest.skip("debugfs (e2fsprogs) not installed")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("node1\n")
    (root / "sbin").symlink_to("usr/sbin")
    disk = tmp_path / "d.img"
    size = system.write_disk(root, disk)
    assert size >= 512 << 20
    cat = subprocess.run(["debugfs", "-R", "cat /etc/hostname", str(disk)], capture_output=True, text=True)
    assert cat.stdout == "node1\n"
    stat = subprocess.run(["debugfs", "-R", "stat /sbin", str(disk)], capture_output=True, text=True)
    assert "Type: symlink" in stat.stdout and "usr/sbin" in stat.stdout


def _script(expect: str) -> str:
    return system.guest_script("6.1.0-57-amd64", expect, [("ib_core", "ab" * 20), ("rdma_rxe", "cd" * 20)],
                               [("ib_core", "12" * 20, "kernel/drivers/infiniband/core/ib_core.ko"),
                                ("rdma_rxe", "34" * 20, "kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko")])


@pytest.mark.parametrize("expect", ["ours", "inbox"])
def test_guest_check_loads_nothing_itself(expect, tmp_path):
    s = _script(expect)
    (tmp_path / "c.sh").write_text(s)
    assert subprocess.run(["sh", "-n", str(tmp_path / "c.sh")], capture_output=True).returncode == 0
    body = [ln.split("#")[0] for ln in s.splitlines()]
    calls = [ln for ln in body if ln.strip().startswith(("insmod", "modprobe")) or " modprobe " in ln]
    assert not calls, calls                                   # the kernel's request_module loads them
    assert "rdma link add rxe0 type rxe netdev $NIC" in s
    assert "busybox --install" not in s and "mount -t proc" not in s   # systemd's system, not an initramfs
    assert ("\nours ours " in s) == (expect == "ours") and ("mark inbox PASS" in s) == (expect == "inbox")
    assert 'OURS="ib_core:' + "ab" * 20 in s and "rdma_rxe:" + "34" * 20 + ":kernel/drivers" in s


def test_console_lines_become_phase_steps():
    console = ["[  OK  ] Started ofedtool-system-check.service",
               "OFEDTEST init PASS 21.40 6.1.0-57-amd64, systemd running",
               "noise OFEDTEST rxe PASS 23.01 rxe0 on enp0s2 (10.0.2.15)",
               "OFEDTEST ours FAIL 24.5 rdma_rxe (build-id 34) is the inbox kernel/drivers/..., not ours"]
    got = [MARKER.search(ln) for ln in console]
    assert got[0] is None and [m.group(1) for m in got[1:]] == ["init", "rxe", "ours"]
    steps = system.phase_steps("boot_update", [system.VmStep(m.group(1), m.group(2), m.group(4), float(m.group(3)), 1.0)
                                               for m in got[1:]], 100.0)
    assert [s.step for s in steps] == ["boot_update:init", "boot_update:rxe", "boot_update:ours"]
    assert steps[2].status == "FAIL" and steps[2].host_s == 101.0


def test_update_expects_ours_only_where_dkms_builds():
    rx = r"^6\.1[.-]"    # what dkms.conf says for a Debian 12 6.1 package today
    assert system.supports(rx, "6.1.0-57-amd64") and system.supports(rx, "6.1.0-58-cloud-amd64")
    assert not system.supports(rx, "6.12.117+deb12-amd64")
    assert system.supports("", "6.12.117+deb12-amd64")    # no BUILD_EXCLUSIVE_KERNEL: every kernel
    assert system.supports(r"^(6\.1\.0-[0-9]+|6\.12\.[0-9]+\+deb12)-", "6.12.117+deb12-amd64")
    # the verdict on the update's DKMS result
    v = system.dkms_verdict
    assert v(True, "ofed-rdma/1, 6.12.117+deb12-amd64, x86_64: installed", 9)
    assert not v(True, "ofed-rdma/1: added", 0)                 # supported but not built: a failure
    assert v(False, "ofed-rdma/1: added", 0)                    # refused, nothing of ours: as it must be
    assert not v(False, "ofed-rdma/1, 6.12.117+deb12-amd64, x86_64: installed", 9)
    assert not v(False, "ofed-rdma/1: added", 3)                # refused, yet modules of ours left there


def test_planted_failure_refuses_that_kernel_only(tmp_path):
    src = tmp_path / "usr" / "src" / "ofed-rdma-1"
    (src / "probekit").mkdir(parents=True)
    (src / "dkms.conf").write_text('PACKAGE_NAME="ofed-rdma"\nBUILD_EXCLUSIVE_KERNEL="^6\\.1[.-]"\n'
                                   'BUILD_EXCLUSIVE_KERNEL_MIN="6.1"\nBUILD_EXCLUSIVE_KERNEL_MAX="6.1.9999"\n'
                                   'BUILD_EXCLUSIVE_ARCH="^x86_64$"\n')
    (src / "probekit" / "probe.sh").write_text("#!/bin/sh\necho probed \"$1\"\n")
    pkgs = system.Packages(tmp_path, "ofed-rdma", "1", "6.1.0-57-amd64", "debian-12", (), tmp_path, {})
    system.plant_failure(tmp_path, pkgs, "6.12.117+deb12-amd64")
    conf = (src / "dkms.conf").read_text()
    assert "BUILD_EXCLUSIVE_KERNEL" not in conf and 'BUILD_EXCLUSIVE_ARCH="^x86_64$"' in conf
    assert system.dkms_exclusive(tmp_path, pkgs) == ""
    bad = subprocess.run(["sh", str(src / "probekit" / "probe.sh"), "6.12.117+deb12-amd64"], capture_output=True, text=True)
    assert bad.returncode == 1 and "planted failure" in bad.stderr and "probed" not in bad.stdout
    good = subprocess.run(["sh", str(src / "probekit" / "probe.sh"), "6.1.0-57-amd64"], capture_output=True, text=True)
    assert good.returncode == 0 and good.stdout == "probed 6.1.0-57-amd64\n"


def test_bad_system_requests(tmp_path):
    base = ("vmtest", "--kernel", "6.1", "--from", "6.12")
    p = run_cli(*base, "--system", "deb", "--packages", str(tmp_path), "-o", str(tmp_path / "o"))
    assert p.returncode != 0 and "no packages.json" in error_line(p.stderr)
    assert not (tmp_path / "o").exists()
    p = run_cli(*base, "--system", "dkms")
    assert p.returncode != 0 and "--packages DIR or --tree DIR" in error_line(p.stderr)
    p = run_cli(*base, "--update-kernel", "6.12", "--tree", str(tmp_path))
    assert p.returncode != 0 and "go with --system" in error_line(p.stderr)
    (tmp_path / "packages.json").write_text(json.dumps({"name": "n", "kernel": "6.1.0-57-amd64", "version": "1",
                                                        "target": "debian-12", "modules": [],
                                                        "packages": {"deb": ["n-dkms_1_all.deb"]}}))
    (tmp_path / "n-dkms_1_all.deb").write_bytes(b"")
    p = run_cli(*base, "--system", "deb", "--packages", str(tmp_path), "-o", str(tmp_path / "o"))
    assert p.returncode != 0 and "no n-modules-6.1.0-57-amd64 .deb" in error_line(p.stderr)
    for bad, why in ((("--system", "deb", "--update-kernel", "6.12"), "needs --system dkms"),
                     (("--system", "dkms", "--plant-failure"), "needs --update-kernel"),
                     (("--system", "dkms", "--update-kernel", "6.1"), "not another kernel"),
                     (("--system", "dkms", "--update-kernel", "5.10"), "not another kernel of Debian 12")):
        p = run_cli(*base, *bad, "--packages", str(tmp_path), "-o", str(tmp_path / "o"))
        assert p.returncode != 0 and why in error_line(p.stderr), (bad, p.stderr)
    p = run_cli("vmtest", "--kernel", "5.10", "--from", "6.12", "--system", "dkms", "--packages", str(tmp_path),
                "-o", str(tmp_path / "o"))
    assert p.returncode != 0 and "made for debian-12, not --kernel 5.10 (debian-11)" in error_line(p.stderr)
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- real systems


def _packages(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("syspk") / "pk"
    p = run_cli("package", "--tree", str(tree), "-o", str(out), "--format", "deb,dkms")
    assert p.returncode == 0, p.stderr[-3000:]
    return out


def _system(pkgs, out, *extra):
    p = run_cli("--json", "vmtest", "--kernel", "6.1", "--from", "6.12", "--system", *extra,
                "--packages", str(pkgs), "-o", str(out))
    rec = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else None
    return p, rec


@pytest.mark.slow
@pytest.mark.network
def test_binary_deb_on_a_debian_12_system(built_tree_6_1, tmp_path_factory, tmp_path):
    pkgs = _packages(built_tree_6_1, tmp_path_factory)
    p, rec = _system(pkgs, tmp_path / "sys", "deb")
    assert rec is not None, p.stderr[-3000:]
    steps = {s["step"]: s for s in rec["steps"]}
    assert p.returncode == 0 and rec["ok"], system.text(rec)
    # modprobe (asked by the kernel for rdma_rxe) chose ours: build-ids of the .deb's modules
    assert steps["boot:rxe"]["status"] == "PASS" and steps["boot:ours"]["status"] == "PASS"
    assert "rdma_rxe=updates/" in steps["boot:modpath"]["detail"]
    assert steps["boot:pingpong"]["status"] == "PASS" and steps["boot:rping"]["status"] == "PASS"
    # and purged: nothing of ours left, the kernel's own rdma_rxe is what modprobe finds again
    assert steps["purge_updates"]["status"] == "PASS"
    assert f"/lib/modules/{rec['kernel']}/kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko" in \
        steps[f"purge_depmod:{rec['kernel']}"]["detail"]
    assert not (tmp_path / "sys" / "root").exists()   # the system copy goes with a pass


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.release
def test_dkms_update_and_planted_failure_on_debian_12(built_tree_6_1, tmp_path_factory, tmp_path):
    pkgs = _packages(built_tree_6_1, tmp_path_factory)
    p, rec = _system(pkgs, tmp_path / "sys", "dkms", "--update-kernel", "6.12", "--plant-failure", "--purge-boot")
    assert rec is not None, p.stderr[-3000:]
    assert p.returncode == 0 and rec["ok"], system.text(rec)
    steps = {s["step"]: s for s in rec["steps"]}
    assert rec["update"]["expect"] == "inbox"
    for s in ("update", "update_dpkg", "update_initramfs", "update_dkms", "boot_update:inbox", "boot_update:pingpong"):
        assert steps[s]["status"] == "PASS", (s, steps[s])


def _conf(tmp_path) -> Path:
    from ofedtool.templates import render
    conf = tmp_path / "dkms.conf"
    conf.write_text(render("dkms.conf.j2", name="ofed-rdma", version="1", source_version="6.12.117", series="6.1",
                           release="Linux 6.1.y",
                           reference="6.1.0-57-amd64", exclusive_regex=r"^6\.1[.-]", kernel_min="6.1",
                           kernel_max="6.1.9999", arch_regex="^x86_64$", module_dir="updates/ofed-rdma", modules=[]))
    return conf


@pytest.mark.parametrize("kver, autoinstall", [("6.1.0-57-amd64", "yes"), ("6.1.0-58-rt-amd64", "yes"),
                                               ("6.12.117+deb12-amd64", "")])
def test_dkms_conf_autoinstalls_only_kernels_it_builds(tmp_path, kver, autoinstall):
    # dkms sources dkms.conf with bash, $kernelver set to the kernel being autoinstalled; Debian 12's
    # dkms 3.0.10 fails the kernel's postinst on a BUILD_EXCLUSIVE skip unless AUTOINSTALL is empty
    conf = _conf(tmp_path)
    got = subprocess.run(["bash", "-c", 'kernelver=$1; . "$2"; printf %s "$AUTOINSTALL"', "-", kver, str(conf)],
                         capture_output=True, text=True)
    assert got.returncode == 0 and got.stdout == autoinstall, got.stderr
    # dkms 3.0.10's autoinstall reads the file with $kernelver of a kernel the module is installed
    # for; the kernel being autoinstalled is the one on dkms's command line
    got = subprocess.run(["bash", "-c", 'f=$1; shift; kernelver=6.1.0-57-amd64; . "$f"; printf %s "$AUTOINSTALL"',
                          "dkms", str(conf), "autoinstall", "--kernelver", kver], capture_output=True, text=True)
    assert got.returncode == 0 and got.stdout == autoinstall, got.stderr


def test_dkms_conf_skips_a_kernel_the_hook_marked(tmp_path):
    conf = _conf(tmp_path)
    text = conf.read_text()
    mark = '"/var/lib/ofed-rdma-dkms/refused/1/$_ofed_k"'
    assert mark in text
    conf.write_text(text.replace(mark, f'"{tmp_path}/refused/$_ofed_k"'))
    (tmp_path / "refused").mkdir()
    (tmp_path / "refused" / "6.1.0-57-amd64").write_text("dkms build exit 1\n")
    run = ["bash", "-c", 'f=$1; shift; kernelver=6.1.0-57-amd64; . "$f"; printf %s "$AUTOINSTALL"', "dkms", str(conf),
           "autoinstall", "--kernelver"]
    assert subprocess.run([*run, "6.1.0-57-amd64"], capture_output=True, text=True).stdout == ""
    assert subprocess.run([*run, "6.1.0-58-amd64"], capture_output=True, text=True).stdout == "yes"


def test_kernel_hook_is_valid_shell_and_runs_before_dkms(tmp_path):
    from types import SimpleNamespace
    from ofedtool.package.deb import _kernel_hooks
    hooks = _kernel_hooks(SimpleNamespace(name="ofed-rdma", version="1"), tmp_path)
    assert hooks == ["/etc/kernel/postinst.d/00-ofed-rdma-dkms", "/etc/kernel/header_postinst.d/00-ofed-rdma-dkms"]
    for h in hooks:
        f = tmp_path / h.lstrip("/")
        # run-parts runs hooks in name order: ours must come before dkms's own, which fails the kernel
        assert sorted([f.name, "dkms", "initramfs-tools"])[0] == f.name and f.stat().st_mode & 0o111
        s = f.read_text()
        assert subprocess.run(["sh", "-n", str(f)]).returncode == 0
        assert s.rstrip().endswith("exit 0") and 'mark="/var/lib/$NAME-dkms/refused/$VERSION/$kver"' in s
        assert "NAME=ofed-rdma\nVERSION=1\n" in s


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.release
def test_binary_deb_on_a_debian_11_system(tmp_path_factory, tmp_path):
    tree = tmp_path_factory.mktemp("built") / "tree-5.10"
    p = run_cli("build", "--kernel", "5.10", "--from", "6.12", "--source", "debian", "--modules", "core,rxe,siw",
                "--package", "deb,dkms", "-o", str(tree))
    assert p.returncode == 0, p.stderr[-3000:]
    out = tmp_path / "sys"
    p = run_cli("--json", "vmtest", "--kernel", "5.10", "--from", "6.12", "--system", "deb", "--purge-boot",
                "--packages", str(tree) + "-packages", "-o", str(out))
    rec = json.loads((out / "result.json").read_text())
    assert p.returncode == 0 and rec["ok"], system.text(rec)
    steps = {s["step"]: s["status"] for s in rec["steps"]}
    assert steps["boot:ours"] == steps["boot:rping"] == steps["boot_purged:inbox"] == "PASS"


@pytest.mark.parametrize("kver, built", [("6.1.0-58-amd64", True), ("6.12.117+deb12-amd64", False)])
def test_kernel_hook_decides_the_range_before_dkms(tmp_path, kver, built):
    # A kernel outside BUILD_EXCLUSIVE_KERNEL: one line of ours, and dkms is never asked to build
    # (its own "Error! ... BUILD_EXCLUSIVE" line is not for the admin). One inside: dkms builds.
    from types import SimpleNamespace
    from ofedtool.package.deb import _kernel_hooks
    hook = tmp_path / _kernel_hooks(SimpleNamespace(name="ofed-rdma", version="1"), tmp_path)[0].lstrip("/")
    conf = _conf(tmp_path)
    modules = tmp_path / "modules"
    (modules / kver / "build" / "include").mkdir(parents=True)
    text = hook.read_text().replace('"/usr/src/$NAME-$VERSION/dkms.conf"', f'"{conf}"') \
        .replace('"/lib/modules/$kver/build/include"', f'"{modules}/$kver/build/include"') \
        .replace('mark="/var/lib/', f'mark="{tmp_path}/var/lib/')
    hook.write_text(text)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "dkms.log"
    # dkms as installed for the running kernel only: status lists the module, build and install work
    (bin_ / "dkms").write_text(f'#!/bin/sh\necho "$@" >> {log}\n'
                               'case "$1 $*" in status*-k*) exit 0 ;; status*) echo "ofed-rdma/1, 6.1.0-57-amd64, x86_64: installed" ;; esac\n')
    (bin_ / "dkms").chmod(0o755)
    p = subprocess.run(["sh", str(hook), kver], capture_output=True, text=True,
                       env={"PATH": f"{bin_}:/usr/bin:/bin"})
    calls = log.read_text().splitlines()
    assert p.returncode == 0
    assert any(c.startswith("build ") for c in calls) == built, calls
    if not built:
        assert p.stderr.strip().splitlines() == [
            f"ofed-rdma: 1 is not for {kver} (its kernels: ^6\\.1[.-]): {kver} installs with its own RDMA modules"]
        assert not (tmp_path / "var").exists()   # not a refusal: nothing marked
    else:
        assert any(c.startswith("install ") for c in calls) and "not built" not in p.stderr
