"""Run the Jenkinsfile's shell steps locally, in pipeline order, with the same parameters.

A small reader of the declarative subset the Jenkinsfile uses (stages, a matrix with one axis,
`when { expression { ... } }` over params/env, sh steps, post/always). If the Jenkinsfile grows
a construct this reader does not know, the structural test fails and says which.
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


def when_holds(stage: Block, params: dict, env: dict) -> bool:
    w = child(stage, "when")
    if w is None:
        return True
    expr = child(w, "expression").body.strip()
    if m := re.fullmatch(r"(!?)params\.(\w+)", expr):
        return bool(params[m.group(2)]) != bool(m.group(1))
    if m := re.fullmatch(r"params\.(\w+)\.tokenize\('(.)'\)\.contains\(env\.(\w+)\)", expr):
        return env[m.group(3)] in params[m.group(1)].split(m.group(2))
    raise AssertionError(f"Jenkinsfile: `when` expression this test cannot evaluate: {expr}")


def plan(params: dict, env: dict) -> list[tuple[str, str, dict]]:
    """(stage path, shell command, extra env) in the order Jenkins runs them (matrix cells serially)."""
    pipeline = child(parse(_strip_comments(JENKINSFILE.read_text())), "pipeline")
    steps: list[tuple[str, str, dict]] = []

    def run_stages(stages: Block, prefix: str, extra: dict):
        for st in stages.children:
            name = re.match(r"stage\('([^']+)'\)", st.head).group(1)
            if not when_holds(st, params, {**env, **extra}):
                continue
            if (m := child(st, "matrix")) is not None:
                axis = child(child(m, "axes"), "axis")
                aname = re.search(r"name\s+'(\w+)'", axis.body).group(1)
                values = re.findall(r"'([^']+)'", re.search(r"values\s+(.*)", axis.body).group(1))
                for v in values:
                    cell = {**extra, aname: v}
                    if when_holds(m, params, {**env, **cell}):
                        run_stages(child(m, "stages"), f"{prefix}{name}[{v}]/", cell)
            elif (s := child(st, "steps")) is not None:
                for cmd in sh_steps(s):
                    steps.append((prefix + name, cmd, extra))
            else:
                raise AssertionError(f"Jenkinsfile: stage {name} has neither steps nor matrix")

    run_stages(child(pipeline, "stages"), "", {})
    post = child(pipeline, "post")
    if post is not None:
        for cmd in sh_steps(child(post, "always")):
            steps.append(("post/always", cmd, {}))
    return steps


def test_jenkinsfile_structure():
    pipeline = child(parse(_strip_comments(JENKINSFILE.read_text())), "pipeline")
    params = child(pipeline, "parameters").body
    for p in ("FROM", "KERNELS", "MODULES", "SIGN"):
        assert f"name: '{p}'" in params
    envblock = child(pipeline, "environment").body
    for name in ("OFEDTOOL_CACHE", "OFEDTOOL", "OUT"):
        assert re.search(rf"^\s*{name}\s*=", envblock, re.M), name
    steps = plan({"FROM": "6.12", "KERNELS": "6.1,5.10", "MODULES": "core", "SIGN": False},
                 {})
    stages = [s for s, _, _ in steps]
    assert stages[:2] == ["Checkout", "Fetch"]
    assert [s for s in stages if s.startswith("Matrix")] == [
        f"Matrix[{k}]/{st}" for k in ("6.1", "5.10") for st in ("Generate", "Build", "Package", "VM test")]
    assert stages[-1] == "post/always"
    # Every step is bootstrap or one ofedtool command: no logic in Groovy.
    for _, cmd, _ in steps:
        assert cmd == "scripts/bootstrap" or cmd.startswith('"$OFEDTOOL" '), cmd
    signed = plan({"FROM": "6.12", "KERNELS": "6.1", "MODULES": "core", "SIGN": True}, {})
    assert any("--sign-key" in c for _, c, _ in signed) and not any(
        "--sign-key" not in c and " package " in c for _, c, _ in signed)


@pytest.mark.slow
@pytest.mark.network
def test_jenkinsfile_steps_run_green_for_one_target(tmp_path, cache, build_tree_6_1):
    params = {"FROM": "6.12", "KERNELS": "6.1", "MODULES": "core,rxe,siw", "SIGN": False}
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
