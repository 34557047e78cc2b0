"""Run the Jenkinsfile's shell steps locally, in pipeline order, with the same parameters.

A small reader of the subset the Jenkinsfile uses: declarative stages, `when { expression { ... } }`
over params, sh steps, post/always, and the scripted cells: a `script` that sets env from
kernelList(params.KERNELS), and one that runs `parallel` over kernelList(params.KERNELS) with the
`cell(kernel, cells)` function (its withEnv, `stage("Name ${kernel}")` and `if (params...)`
blocks). kernelList is read as Groovy runs it: split on ',', trim, drop empties, once each, and
the Jenkinsfile's own pattern for a valid name. If the Jenkinsfile grows a construct this reader
does not know, the structural test fails and says which.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import xmlschema

from conftest import REPO

JENKINSFILE = REPO / "Jenkinsfile"


@dataclass
class Block:
    head: str
    body: str = ""
    children: list["Block"] = field(default_factory=list)


def _strip_comments(text: str) -> str:
    return re.sub(r"(?m)^\s*//.*$", "", text)


def parse(text: str) -> Block:
    """Brace tree; quoted strings are opaque (so braces in shell steps do not count)."""
    root = Block("root")
    stack = [root]
    head = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            head.append(text[i:j + 1])
            i = j + 1
            continue
        if c == "{":
            b = Block("".join(head).strip().splitlines()[-1].strip() if "".join(head).strip() else "")
            stack[-1].children.append(b)
            stack.append(b)
            head = []
        elif c == "}":
            stack[-1].body += "".join(head)
            stack.pop()
            head = []
        elif c == "\n" and head:
            stack[-1].body += "".join(head) + "\n"
            head = []
        else:
            head.append(c)
        i += 1
    return root


def child(b: Block, name: str) -> Block | None:
    return next((c for c in b.children if c.head == name or c.head.startswith(name + " ")
                 or c.head.startswith(name + "(")), None)


def sh_steps(b: Block) -> list[str]:
    # Blocks inside steps are wrappers (withCredentials, script): their sh steps run in place.
    out = re.findall(r"""\bsh\s+'([^']*)'""", b.body)
    for c in b.children:
        out += sh_steps(c)
    return out


class KernelsRejected(Exception):
    """What Groovy's `error` step would stop the build with."""


def _condition(expr: str, params: dict, env: dict | None = None) -> bool:
    if m := re.fullmatch(r"(!?)params\.(\w+)", expr.strip()):
        return bool(params[m.group(2)]) != bool(m.group(1))
    if m := re.fullmatch(r"(!?)env\.(\w+)", expr.strip()):
        return bool((env or {}).get(m.group(2))) != bool(m.group(1))
    raise AssertionError(f"Jenkinsfile: condition this test cannot evaluate: {expr}")


def when_holds(stage: Block, params: dict, env: dict, cause: str = "user") -> bool:
    w = child(stage, "when")
    if w is None:
        return True
    if m := re.fullmatch(r"triggeredBy '(\w+)'", w.body.strip()):
        return {"TimerTrigger": "timer"}.get(m.group(1)) == cause
    return _condition(child(w, "expression").body, params, env)


def kernel_list(text: str) -> list[str]:
    """The Jenkinsfile's kernelList(), with the name pattern taken from the Jenkinsfile."""
    pattern = re.search(r"==~\s*/([^/]+)/", JENKINSFILE.read_text()).group(1)
    kernels = list(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    if not kernels:
        raise KernelsRejected(f"KERNELS '{text}': no kernel given")
    bad = [k for k in kernels if not re.fullmatch(pattern, k)]
    if bad:
        raise KernelsRejected(f"KERNELS '{text}': not a kernel id, alias or release: {', '.join(bad)}")
    return kernels


def _function(root: Block, name: str) -> Block:
    f = next((c for c in root.children if re.match(rf"def {name}\(", c.head)), None)
    assert f is not None, f"Jenkinsfile: no function {name}()"
    return f


def _cell_steps(root: Block, kernel: str, cells: int, params: dict, prefix: str,
                extra: dict) -> list[tuple[str, str, dict]]:
    """The steps cell(kernel, cells) runs, in order."""
    fn = _function(root, "cell")
    assert re.fullmatch(r"def cell\(String (\w+), int (\w+)\)", fn.head), fn.head
    args = dict(zip(re.fullmatch(r"def cell\(String (\w+), int (\w+)\)", fn.head).groups(), (kernel, str(cells))))
    out: list[tuple[str, str, dict]] = []

    def walk(b: Block, env: dict):
        for c in b.children:
            if c.head.startswith("withEnv("):
                names = re.findall(r'"(\w+)=\$\{(\w+)\}"', c.head)
                walk(c, {**env, **{k: args[v] for k, v in names}})
            elif m := re.fullmatch(r"if \((.*)\)", c.head):
                if _condition(m.group(1), params):
                    walk(c, env)
            elif m := re.fullmatch(r'stage\("([^"$]+?) \$\{\w+\}"\)', c.head):
                out.extend((f"{prefix}[{kernel}]/{m.group(1)}", cmd, {**extra, **env}) for cmd in sh_steps(c))
            else:
                raise AssertionError(f"Jenkinsfile: cell() has a block this test cannot run: {c.head}")

    walk(fn, {})
    return out


def parameter_defaults(pipeline: Block) -> dict:
    """The parameters block's defaults: string() as text, booleanParam() as bool."""
    body = child(pipeline, "parameters").body
    out: dict = {}
    for kind, name, value in re.findall(r"(string|booleanParam)\(name: '(\w+)', defaultValue: ('[^']*'|true|false)", body):
        out[name] = value.strip("'") if kind == "string" else value == "true"
    assert out, "Jenkinsfile: no parameters this test can read"
    return out


def plan(params: dict, env: dict, cause: str = "user", capture=None) -> list[tuple[str, str, dict]]:
    """(stage path, shell command, extra env) in the order Jenkins runs them (parallel cells serially).
    cause: who started the build ("user" or "timer", for `triggeredBy`). A script step that sets
    env from `sh(returnStdout: true, ...)` is listed and its output taken from capture(stage,
    command, env), so the stages after it see what that command printed."""
    root = parse(_strip_comments(JENKINSFILE.read_text()))
    pipeline = child(root, "pipeline")
    # A parameter the caller leaves out has its declared default, as in a build Jenkins starts.
    params = {**parameter_defaults(pipeline), **params}
    steps: list[tuple[str, str, dict]] = []
    script_env: dict = {}

    def run_stages(stages: Block, prefix: str, extra: dict):
        for st in stages.children:
            name = re.match(r"stage\('([^']+)'\)", st.head).group(1)
            if not when_holds(st, params, {**env, **extra, **script_env}, cause):
                continue
            if (s := child(st, "steps")) is None:
                raise AssertionError(f"Jenkinsfile: stage {name} has no steps")
            script = child(s, "script")
            body = script.body if script else ""
            if script and "parallel" in body:
                assert "kernelList(env.KERNEL_LIST)" in body, f"stage {name}: parallel cells not from KERNEL_LIST"
                kernels = kernel_list(script_env["KERNEL_LIST"])
                for k in kernels:
                    steps.extend(_cell_steps(root, k, len(kernels), params, prefix + name, {**extra, **script_env}))
                continue
            if script and (m := re.fullmatch(r"env\.(\w+) = sh\(returnStdout: true, script: '([^']*)'\)\.trim\(\)",
                                             body.strip())):
                assert capture is not None, f"stage {name}: a step whose output the plan needs"
                step_env = {**extra, **script_env}
                steps.append((prefix + name, m.group(2), step_env))
                script_env[m.group(1)] = capture(prefix + name, m.group(2), step_env).strip()
                continue
            if script:
                m = re.fullmatch(r"env\.(\w+) = kernelList\(params\.(\w+)\)\.join\(','\)", body.strip())
                assert m, f"Jenkinsfile: stage {name} has a script this test cannot run: {body.strip()}"
                script_env[m.group(1)] = ",".join(kernel_list(params[m.group(2)]))
            for cmd in sh_steps(s):
                steps.append((prefix + name, cmd, {**extra, **script_env}))

    run_stages(child(pipeline, "stages"), "", {})
    post = child(pipeline, "post")
    if post is not None:
        for cmd in sh_steps(child(post, "always")):
            steps.append(("post/always", cmd, dict(script_env)))
    return steps


def test_jenkinsfile_structure():
    pipeline = child(parse(_strip_comments(JENKINSFILE.read_text())), "pipeline")
    params = child(pipeline, "parameters").body
    for p in ("FROM", "KERNELS", "MODULES", "SIGN", "CONFORMANCE"):
        assert f"name: '{p}'" in params
    assert parameter_defaults(pipeline) == {"FROM": "6.12", "KERNELS": "6.1,6.12,5.10", "MODULES": "stack",
                                            "SIGN": False, "CONFORMANCE": False}
    # a build started with no parameters runs the declared defaults: one cell per default kernel
    assert [s for s, _, _ in plan({}, {}) if s.endswith("/VM test")] == [
        f"Matrix[{k}]/VM test" for k in ("6.1", "6.12", "5.10")]
    envblock = child(pipeline, "environment").body
    for name in ("OFEDTOOL_CACHE", "OFEDTOOL", "OUT"):
        assert re.search(rf"^\s*{name}\s*=", envblock, re.M), name
    steps = plan({"FROM": "6.12", "KERNELS": "6.1,5.10", "MODULES": "core", "SIGN": False, "CONFORMANCE": False},
                 {})
    stages = [s for s, _, _ in steps]
    assert stages[:2] == ["Checkout", "Fetch"]
    assert [s for s in stages if s.startswith("Matrix")] == [
        f"Matrix[{k}]/{st}" for k in ("6.1", "5.10") for st in ("Generate", "Build", "Package", "VM test")]
    assert stages[-1] == "post/always"
    # Every step is bootstrap or one ofedtool command: no logic in Groovy.
    for _, cmd, _ in steps:
        assert cmd == "scripts/bootstrap" or cmd.startswith('"$OFEDTOOL" '), cmd
    signed = plan({"FROM": "6.12", "KERNELS": "6.1", "MODULES": "core", "SIGN": True, "CONFORMANCE": False}, {})
    assert any("--sign-key" in c for _, c, _ in signed) and not any(
        "--sign-key" not in c and " package " in c for _, c, _ in signed)
    vm = [c for s, c, _ in steps if s.endswith("/VM test")]
    assert vm and not any("--conformance" in c for c in vm)
    conf = plan({"FROM": "6.12", "KERNELS": "6.1", "MODULES": "core", "SIGN": False, "CONFORMANCE": True}, {})
    assert [c for s, c, _ in conf if s.endswith("/VM test")] == [vm[0] + " --conformance"]


PARAMS = {"FROM": "6.12", "MODULES": "core", "SIGN": False, "CONFORMANCE": False}


def _cells(kernels: str) -> list[str]:
    return list(dict.fromkeys(re.match(r"Matrix\[([^\]]+)\]", s).group(1)
                              for s, _, _ in plan({**PARAMS, "KERNELS": kernels}, {}) if s.startswith("Matrix[")))


def test_the_cells_are_the_kernels_parameter():
    """No hard-coded axis: every kernel named runs (trixie too), blanks around names are trimmed."""
    assert _cells("6.1, 6.12") == ["6.1", "6.12"]
    assert _cells("trixie") == ["trixie"]
    assert _cells(" 6.1,,6.1 ,debian-12-cloud") == ["6.1", "debian-12-cloud"]
    fetch = next((cmd, extra) for s, cmd, extra in plan({**PARAMS, "KERNELS": "6.1, 6.12"}, {}) if s == "Fetch")
    assert '"$KERNEL_LIST"' in fetch[0] and fetch[1]["KERNEL_LIST"] == "6.1,6.12"
    for bad in ("6.1;rm -rf /", " , ", "6.1,$(id)"):
        with pytest.raises(KernelsRejected):
            plan({**PARAMS, "KERNELS": bad}, {})


def _args_printer(tmp_path: Path) -> Path:
    p = tmp_path / "printargs"
    p.write_text("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n")
    p.chmod(0o755)
    return p


def test_each_cell_gets_its_share_of_the_cores(tmp_path):
    """The cells share one agent: each make gets cores / cells jobs (at least one), through
    /bin/sh as Jenkins' sh step runs it."""
    steps = plan({**PARAMS, "KERNELS": "6.1,6.12,5.10"}, {})
    builds = [(s, cmd, extra) for s, cmd, extra in steps if s.endswith("/Build") or s.endswith("/Generate")]
    assert len(builds) == 6
    env = dict(os.environ, OFEDTOOL=str(_args_printer(tmp_path)), OUT=str(tmp_path), FROM="6.12", MODULES="core", SIGN="false", CONFORMANCE="false")
    cores = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout)
    for stage, cmd, extra in builds:
        p = subprocess.run(["/bin/sh", "-c", cmd], env={**env, **extra}, capture_output=True, text=True)
        args = p.stdout.splitlines()
        assert p.returncode == 0 and args[args.index("-j") + 1] == str(max(1, cores // 3)), (stage, p.stderr, args)


def test_reports_are_published_when_a_cell_failed(tmp_path):
    """The post step runs over a failed cell and a cell that never built: it exits 0 with every
    report written, and junit/archiveArtifacts/publishHTML come after it (a failing sh would skip them)."""
    import json

    post = child(child(child(parse(_strip_comments(JENKINSFILE.read_text())), "pipeline"), "post"), "always")
    assert [c.head.split("(")[0] for c in post.children] == ["catchError"]
    assert all(step in post.body for step in ("junit ", "archiveArtifacts ", "publishHTML("))
    out = tmp_path / "out"
    bad = out / "6.1" / "tree"
    bad.mkdir(parents=True)
    # A real tree's records (tests/data/tree-6.1), its build turned into a failed siw compile.
    data = Path(__file__).parent / "data" / "tree-6.1"
    (bad / "manifest.json").write_text((data / "manifest.json").read_text())
    res = json.loads((data / "result.json").read_text())
    res["ok"] = False
    res["build"].update({"ok": False, "exit_code": 2, "failure": "",
                         "modules": [{"name": "siw", "dir": "drivers/infiniband/sw/siw", "ko": None, "vermagic": None,
                                      "ok": False, "errors": 1, "hazards": 0, "warnings": 0, "undefined": []}],
                         "diagnostics": [{"kind": "error", "line": 41, "msg": "boom", "unit": "",
                                          "file": "drivers/infiniband/sw/siw/siw_main.c"}]})
    (bad / "result.json").write_text(json.dumps(res))
    (out / "5.10" / "tree").mkdir(parents=True)
    wrapper = tmp_path / "ofedtool"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m ofedtool.cli \"$@\"\n")
    wrapper.chmod(0o755)
    env = dict(os.environ, OFEDTOOL=str(wrapper), OUT=str(out), FROM="6.12", MODULES="core", KERNELS="6.1,5.10", SIGN="false", CONFORMANCE="false")
    [(_, cmd, extra)] = [st for st in plan({**PARAMS, "KERNELS": "6.1,5.10"}, {}) if st[0] == "post/always"]
    p = subprocess.run(["/bin/sh", "-c", cmd], cwd=REPO, env={**env, **extra}, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    junit = out / "report" / "junit.xml"
    xmlschema.XMLSchema(str(Path(__file__).parent / "data" / "junit.xsd")).validate(str(junit))
    text = junit.read_text()
    assert "siw_main.c:41: boom" in text and "no result.json" in text
    assert (out / "report" / "report.html").is_file()


@pytest.mark.slow
@pytest.mark.network
def test_jenkinsfile_steps_run_green_for_one_target(tmp_path, cache, build_tree_6_1):
    params = {"FROM": "6.12", "KERNELS": "6.1", "MODULES": "core,rxe,siw", "SIGN": False, "CONFORMANCE": False}
    wrapper = tmp_path / "ofedtool"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m ofedtool.cli \"$@\"\n")
    wrapper.chmod(0o755)
    env = dict(os.environ, OFEDTOOL_CACHE=str(cache.root), OFEDTOOL=str(wrapper), OUT=str(tmp_path / "out"),
               WORKSPACE=str(REPO), **{k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()})
    for stage, cmd, extra in plan(params, env):
        if cmd == "scripts/bootstrap":
            continue  # the machine's set-up (apt-get, pip), which made the env this test runs in
        p = subprocess.run(["bash", "-c", cmd], cwd=REPO, env={**env, **extra}, capture_output=True, text=True)
        assert p.returncode == 0, f"stage {stage}: {cmd}\n{p.stderr[-3000:]}"
    out = tmp_path / "out"
    # What the post steps hand to Jenkins exists and is valid.
    xmlschema.XMLSchema(str(Path(__file__).parent / "data" / "junit.xsd")).validate(str(out / "report/junit.xml"))
    assert (out / "report/report.html").exists()
    pk = out / "6.1" / "packages"
    assert list(pk.glob("*.rpm")) and list(pk.glob("*.deb")) and (pk / "SHA256SUMS").exists()
    assert (out / "6.1/tree/vmtest/result.json").exists()
