"""vmtest: our modules on the real distro kernel in QEMU (TCG), with traffic over soft-RoCE.

The slow tests boot Debian 12's own 6.1 kernel image with the session's built tree
(conftest.built_tree_6_1); one of them hides our core from the guest so the distro's inbox
modules load instead, and the identity check (build-id; Debian's modules carry no srcversion)
has to be what fails.

With --sign-key/--sign-cert the guest boots under UEFI Secure Boot (OVMF) with our certificate in
the MOK list and module.sig_enforce=1: our signed modules must load, an unsigned copy must be
refused, and (self-test) modules signed by a key the MOK list does not hold must be refused too.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import error_line, run_cli
from ofedtool.prove import cpio
from ofedtool.prove.secureboot import SHIM_GUID, machine
from ofedtool.prove.vmtest import Step, _gid, judge

INBOX_IN_DEBIAN = "ib_core,ib_cm,iw_cm,rdma_cm,ib_umad,ib_uverbs,rdma_ucm,rdma_rxe"  # Debian builds no siw


def test_initramfs_is_deterministic_and_readable(tmp_path):
    entries = [cpio.file("usr/bin/x", b"abc", 0o755), cpio.symlink("bin", "usr/bin"), cpio.chardev("dev/console", 5, 1)]
    a, b = cpio.initramfs(entries), cpio.initramfs(list(reversed(entries)))
    assert a == b
    if shutil.which("cpio"):
        (tmp_path / "i.gz").write_bytes(a)
        listing = subprocess.run(f"zcat {tmp_path / 'i.gz'} | cpio -tv", shell=True, capture_output=True,
                                 text=True).stdout
        assert "usr/bin/x" in listing and "bin -> usr/bin" in listing and "dev/console" in listing


def test_gid_of_ipv4():
    assert _gid("10.0.2.15") == "0000:0000:0000:0000:0000:ffff:0a00:020f"


def test_judge_names_first_failed_step():
    steps = [Step("init", "PASS", "", 1, 1), Step("load", "PASS", "", 2, 2),
             Step("ours", "FAIL", "ib_core (build-id X) is the inbox kernel/...", 3, 3),
             Step("rping", "FAIL", "x", 4, 4), Step("done", "PASS", "", 5, 5)]
    ok, reason = judge(steps, False, 60)
    assert not ok and reason.startswith("step ours failed: ib_core") and "rping" in reason
    ok, reason = judge(steps[:2], True, 60)
    assert not ok and "after load" in reason and "timed out" in reason


def test_tree_that_is_not_built(tmp_path):
    p = run_cli("vmtest", "--kernel", "6.1", "--from", "6.12", "--tree", str(tmp_path), "-o", str(tmp_path / "o"))
    assert p.returncode != 0
    assert "not a built tree" in error_line(p.stderr)


def _vmtest(tree, out, *extra):
    p = run_cli("--json", "vmtest", "--kernel", "6.1", "--from", "6.12", "--tree", str(tree), "-o", str(out),
                "--timeout", "400", *extra)
    return p, json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else None


@pytest.mark.slow
@pytest.mark.network
def test_vmtest_6_1_passes(built_tree_6_1, tmp_path):
    p, res = _vmtest(built_tree_6_1, tmp_path / "vm")
    assert p.returncode == 0, (p.stderr[-3000:])
    steps = {s["step"]: s["status"] for s in res["steps"]}
    for step in ("init", "load", "ours", "rxe", "ibv_devices", "pingpong", "rping", "siw_ours", "siw_link",
                 "inbox", "done"):
        assert steps.get(step) == "PASS", (step, res["steps"])
    assert (tmp_path / "vm" / "console.log").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.network
def test_inbox_module_instead_of_ours_fails(built_tree_6_1, tmp_path):
    """Our core and rxe left out of the guest: Debian's own load (a consistent inbox stack), the
    traffic may well pass: only the identity check can tell, and it must name the module."""
    p, res = _vmtest(built_tree_6_1, tmp_path / "vm", "--omit-module", INBOX_IN_DEBIAN)
    assert p.returncode != 0
    line = error_line(p.stderr)
    assert "step ours failed" in line and "ib_core" in line and "inbox kernel/drivers/infiniband" in line, line
    steps = {s["step"]: s["status"] for s in res["steps"]}
    assert steps["load"] == "PASS" and steps["ours"] == "FAIL" and steps["inbox"] == "FAIL"


@pytest.mark.slow
@pytest.mark.network
def test_inbox_baseline_runs_the_same_steps_on_the_distros_modules(built_tree_6_1, tmp_path):
    """--inbox: none of ours in the guest; each name of the tree is the distro's by build-id, and
    the distro's own rxe carries the same traffic (the reference a failure of ours is read against)."""
    p, res = _vmtest(built_tree_6_1, tmp_path / "vm", "--inbox")
    assert p.returncode == 0, p.stderr[-3000:]
    assert res["initramfs"]["inbox_only"] is True
    assert not any("updates/" in m for m in res["initramfs"]["all_load"]), res["initramfs"]["all_load"]
    steps = {s["step"]: s for s in res["steps"]}
    assert "modules are the distro's (build-id)" in steps["ours"]["detail"], steps["ours"]
    for step in ("load", "ours", "rxe", "pingpong", "rping", "inbox", "unload", "dmesg"):
        assert steps[step]["status"] == "PASS", (step, steps[step])
    assert "with its own modules (the baseline of" in json.loads(p.stdout)["text"]


def test_inbox_baseline_takes_none_of_our_modules_options(tmp_path):
    p = run_cli("vmtest", "--kernel", "6.1", "--from", "6.12", "--tree", str(tmp_path), "--inbox",
                "--omit-module", "ib_core")
    assert p.returncode == 2 and error_line(p.stderr) == \
        "ofedtool: error: --inbox boots none of our modules: it takes no --omit-module", p.stderr
    p = run_cli("vmtest", "--kernel", "6.1", "--from", "6.12", "--tree", str(tmp_path), "--inbox", "--system", "deb")
    assert "--inbox boots the tree's names on the distro's modules" in error_line(p.stderr)


# ---------------------------------------------------------------- signed modules, Secure Boot, MOK

SIG_STEPS = ("secure_boot", "mok_keyring", "unsigned_refused", "load", "ours", "signed_load", "rping", "siw_ours",
             "inbox", "done")


def _cert(d, cn):
    d.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-sha256",
                        "-subj", f"/CN={cn}", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return d / "key.pem", d / "cert.pem"


def test_secure_boot_varstore_holds_our_mok(signing_key, tmp_path):
    """The OVMF variable store as virt-firmware reads it back: Secure Boot on, our PK, Debian's CA
    in db, and MokListRT under shim's GUID holding exactly our certificate."""
    from virt.firmware.varstore.edk2 import Edk2VarStore
    m = machine(tmp_path, signing_key[1], "debian")
    assert m.subject == "ofedtool throwaway test key" and m.db == ["Debian Secure Boot CA"]
    v = Edk2VarStore(str(m.vars)).get_varlist()
    mok = v["MokListRT"]
    assert str(mok.guid) == SHIM_GUID and mok.attr & 0x4  # runtime access: the kernel reads it after boot
    subjects = [sl.x509.subject.rfc4514_string() for sl in mok.sigdb]
    assert subjects == ["CN=ofedtool throwaway test key,O=ofedtool tests"], subjects
    assert v["SecureBootEnable"].data == b"\x01" and v["PK"].sigdb[0].x509 is not None


def test_sign_options_are_checked_first(tmp_path, signing_key):
    key, cert = signing_key
    p = run_cli("vmtest", "--kernel", "6.1", "--from", "6.12", "--tree", str(tmp_path), "--sign-key", str(key))
    assert "--sign-key and --sign-cert go together" in error_line(p.stderr)
    p = run_cli("vmtest", "--kernel", "6.1", "--from", "6.12", "--tree", str(tmp_path), "--mok-cert", str(cert))
    assert "--mok-cert needs --sign-key" in error_line(p.stderr)


def test_init_script_is_valid_sh_with_and_without_signing(tmp_path):
    """The guest's /init, rendered both ways, parses as sh; a certificate name with quotes stays data."""
    from ofedtool.prove.vmtest import render_init
    common = dict(release="6.1.0-56-amd64", ip="10.0.2.15", gid=_gid("10.0.2.15"), ours=[("ib_core", "ab")],
                  inbox=[("ib_core", "cd", "kernel/x/ib_core.ko")], load=["updates/ofed/ib_core.ko"],
                  load_names=["ib_core"], siw=[], ulp=None, ulp_load=[], loaded_names={"ib_core"})
    full = dict(all_load=["updates/ofed/ib_core.ko", "kernel/drivers/nvme/target/nvmet.ko"], all_names=["ib_core"],
                nvmeof=["kernel/drivers/block/brd.ko", "updates/ofed/nvmet-rdma.ko"],
                srp=["updates/ofed/ib_srpt.ko", "kernel/drivers/scsi/sd_mod.ko"],
                iser=["updates/ofed/ib_iser.ko"], nfsrdma=["updates/ofed/rpcrdma.ko", "kernel/fs/nfsd/nfsd.ko"],
                nvmeof_siw_skip="", unload=["ib_core"])
    empty = dict(all_load=[], all_names=[], nvmeof=[], srp=[], iser=[], nfsrdma=[], nvmeof_siw_skip="", unload=[])
    evil = "O'Brien \"$(reboot)\" key"
    for sig, more in ((None, full), ({"subject": evil, "mok": evil, "unsigned": "unsigned/ib_core.ko"}, empty)):
        script = render_init(**common, **more, sig=sig)
        (tmp_path / "init").write_text(script)
        p = subprocess.run(["sh", "-n", str(tmp_path / "init")], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert ("unsigned_refused" in script) == (sig is not None)
        # load-all, NVMe-oF and unload only where the tree has them; the dmesg verdict always
        assert ("nvmeof_connect" in script) == bool(more["nvmeof"]) and ("mark unload" in script) == bool(more["unload"])
        assert ("srp_login" in script) == bool(more["srp"]) and ("iser_login" in script) == bool(more["iser"])
        assert ("nfsrdma_server" in script) == bool(more["nfsrdma"]) and ("proto=rdma" in script) == bool(more["nfsrdma"])
        assert "mark dmesg" in script
    assert "MOK='O'\"'\"'Brien \"$(reboot)\" key'" in script


def _steps(res):
    return {s["step"]: s for s in res["steps"]}


@pytest.mark.slow
@pytest.mark.network
def test_signed_modules_load_under_sig_enforce_6_1(built_tree_6_1, signing_key, tmp_path):
    key, cert = signing_key
    p, res = _vmtest(built_tree_6_1, tmp_path / "vm", "--sign-key", str(key), "--sign-cert", str(cert))
    assert p.returncode == 0, p.stderr[-3000:]
    steps = _steps(res)
    for step in SIG_STEPS:
        assert steps.get(step, {}).get("status") == "PASS", (step, res["steps"])
    assert "Secure boot enabled" in steps["secure_boot"]["detail"]
    assert steps["mok_keyring"]["detail"].startswith("ofedtool throwaway test key: ")
    assert "Key was rejected by service" in steps["unsigned_refused"]["detail"]
    assert res["secure_boot"]["mok"] == "ofedtool throwaway test key"
    print("vmtest seconds:", res["seconds"])


@pytest.mark.slow
@pytest.mark.network
def test_modules_signed_by_a_key_not_in_mok_are_refused_6_1(built_tree_6_1, signing_key, tmp_path):
    """Self-test: the MOK list holds another certificate. The guest loads that one, still refuses
    the unsigned copy, and then refuses our signed modules: their key is not trusted."""
    key, cert = signing_key
    _, other = _cert(tmp_path / "other", "some other vendor")
    p, res = _vmtest(built_tree_6_1, tmp_path / "vm", "--sign-key", str(key), "--sign-cert", str(cert),
                     "--mok-cert", str(other))
    assert p.returncode != 0
    line = error_line(p.stderr)
    assert "step load failed" in line and "Key was rejected by service" in line, line
    steps = _steps(res)
    assert steps["mok_keyring"]["status"] == "PASS" and steps["mok_keyring"]["detail"].startswith("some other vendor: ")
    assert steps["unsigned_refused"]["status"] == "PASS"
    assert steps["load"]["status"] == "FAIL" and steps["signed_load"]["status"] == "FAIL"


# CI proves signing on 6.1 (and the MOK refusal); the same on 6.12 is a release run's (-m release).
@pytest.mark.slow
@pytest.mark.network
@pytest.mark.release
def test_signed_modules_load_under_sig_enforce_6_12(built_tree_6_12, signing_key, tmp_path):
    key, cert = signing_key
    out = tmp_path / "vm"
    p = run_cli("--json", "vmtest", "--kernel", "6.12", "--from", "6.12", "--tree", str(built_tree_6_12), "-o",
                str(out), "--timeout", "400", "--sign-key", str(key), "--sign-cert", str(cert))
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads((out / "result.json").read_text())
    steps = _steps(res)
    for step in SIG_STEPS:
        assert steps.get(step, {}).get("status") == "PASS", (step, res["steps"])
    assert "Key was rejected by service" in steps["unsigned_refused"]["detail"]
    print("vmtest seconds:", res["seconds"])


def test_nvmeof_over_siw_is_skipped_where_the_targets_nvmet_rdma_would_warn(tmp_path):
    """Debian 11's nvmet_rdma_queue_connect() flushes the system workqueue from its CM handler
    (a WARNING over iWARP, measured on 5.10.0-46); 6.1's flushes nothing there."""
    from ofedtool.prove.vmtest import iwarp_flush_warning
    old = tmp_path / "old.c"
    old.write_text("static int nvmet_rdma_queue_connect(struct rdma_cm_id *cm_id,\n\t\tstruct rdma_cm_event *event)\n{\n"
                   "\tif (queue->host_qid == 0) {\n\t\t/* Let inflight controller teardown complete */\n"
                   "\t\tflush_scheduled_work();\n\t}\n}\n\nstatic void nvmet_rdma_exit(void)\n{\n\tflush_scheduled_work();\n}\n")
    assert "flushes the system workqueue" in iwarp_flush_warning(old)
    new = tmp_path / "new.c"
    new.write_text(old.read_text().replace("\t\tflush_scheduled_work();\n\t}", "\t\tflush_workqueue(nvmet_wq);\n\t}"))
    assert iwarp_flush_warning(new) == "" and iwarp_flush_warning(tmp_path / "absent.c") == ""


def test_drivers_step_reads_what_each_module_registered(tmp_path):
    """The guest's drivers step, run by sh over a made-up /sys/module: a module with a device
    table passes only with a driver on each of its buses, and the failure names the module."""
    from ofedtool.prove.vmtest import render_init
    script = render_init(release="6.12.118+deb13-amd64", ip="10.0.2.15", gid=_gid("10.0.2.15"),
                         ours=[("mlx5_core", "ab")], inbox=[], load=[], load_names=[], siw=[], ulp=None,
                         ulp_load=[], loaded_names=set(), sig=None, all_load=["updates/ofed/mlx5_core.ko"],
                         all_names=["mlx5_core", "mlx5_ib"], nvmeof=[], srp=[], iser=[], nfsrdma=[],
                         nvmeof_siw_skip="", unload=[],
                         drivers=[("mlx5_core", ["auxiliary", "pci"], ["mlx5_core.sf"]),
                                  ("mlx5_ib", ["auxiliary"], ["mlx5_core.rdma"]),
                                  ("mlx4_ib", ["auxiliary"], ["mlx4_core.ib"])])
    block = script[script.index('bad=""; seen=""'):]
    block = block[:block.index("\n", block.index("mark drivers"))]
    sysmod = tmp_path / "sys"
    for d in ("mlx5_core/drivers/pci:mlx5_core", "mlx5_core/drivers/auxiliary:mlx5_core.eth", "mlx5_ib/drivers",
              "mlx4_ib/drivers", "mlx4_core/holders", "bus/auxiliary/drivers/mlx4_core.ib"):
        (sysmod / d).mkdir(parents=True)

    def run() -> str:
        sh = 'mark() { echo "$1 $2 $3"; }\n' + block.replace("/sys/module", str(sysmod)).replace("/sys/bus", str(sysmod / "bus"))
        return subprocess.run(["sh", "-c", sh], capture_output=True, text=True, check=True).stdout.strip()
    assert run() == "drivers FAIL mlx5_ib: no auxiliary driver registered; mlx4_ib: no auxiliary driver registered;"
    (sysmod / "mlx5_ib/drivers/auxiliary:mlx5_ib.rdma").mkdir()
    # mlx4_ib's driver, registered through mlx4_core's wrapper: owned by mlx4_core, which it does
    # not count until mlx4_ib holds mlx4_core
    (sysmod / "bus/auxiliary/drivers/mlx4_core.ib/module").symlink_to(sysmod / "mlx4_core")
    assert run() == "drivers FAIL mlx4_ib: no auxiliary driver registered;"
    (sysmod / "mlx4_core/holders/mlx4_ib").mkdir()
    out = run()
    assert out == ("drivers PASS mlx5_core: auxiliary:mlx5_core.eth; mlx5_core: pci:mlx5_core; "
                   "mlx5_ib: auxiliary:mlx5_ib.rdma; mlx4_ib: auxiliary:mlx4_core.ib (through mlx4_core);")
