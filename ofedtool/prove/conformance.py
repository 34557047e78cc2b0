"""rdma-core's own test suite as the conformance gate: read `run_tests.py -v` output, compare runs.

The suite (Debian's python3-pyverbs ships it) runs in a guest once on the target's kernel with its
own RDMA stack (inbox), once with ours, and, where Debian ships a kernel of X's series, on that
kernel as the upstream reference. Compared test by test:

* passes on inbox, not on ours, and not on X's own kernel either: **upstream behaviour**
  (X changed it; reported, not failed);
* passes on inbox (and on X's kernel, when that run exists), not on ours: **backport regression**,
  which fails the step; without the upstream run nothing can excuse it;
* passes on ours, not on inbox: **gained**.
Everything else that differs (a skip turned failure, a failure turned error) is listed as
**changed**, not judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# unittest's verbose lines: "test_x (tests.test_mod.Class.test_x) ... ok" (3.11 names the method
# in the parentheses, older releases only the class); a docstring or the test's own output may
# sit between the name and the verdict.
START = re.compile(r"^(\w+) \(([\w.]+)\)")
VERDICT = r"(ok|FAIL|ERROR|skipped(?: .*)?|expected failure|unexpected success)\s*$"
AFTER = re.compile(r" \.\.\. " + VERDICT)
BARE = re.compile(r"^" + VERDICT)
SUMMARY = re.compile(r"^(FAIL|ERROR): (\w+) \(([\w.]+)\)")
RAN = re.compile(r"^Ran (\d+) tests? in ([\d.]+)s")
STATUS = {"ok": "pass", "FAIL": "fail", "ERROR": "error", "expected failure": "xfail",
          "unexpected success": "xpass"}
KINDS = ("pass", "fail", "error", "skip", "xfail", "xpass")


def _id(name: str, where: str) -> str:
    return where if where.endswith("." + name) else f"{where}.{name}"


def _status(verdict: str) -> tuple[str, str]:
    if verdict.startswith("skipped"):
        return "skip", verdict[len("skipped"):].strip().strip("'\"")
    return STATUS[verdict], ""


def parse(output: str) -> tuple[dict[str, str], dict[str, str], int | None]:
    """(test id → pass|fail|error|skip|xfail|xpass, test id → skip reason, the "Ran N" count)."""
    results: dict[str, str] = {}
    reasons: dict[str, str] = {}
    ran = None
    current = None
    for line in output.splitlines():
        line = line.rstrip()
        m = START.match(line)
        if m:
            current = _id(m.group(1), m.group(2))
        hit = AFTER.search(line) or (BARE.match(line) if current and not m else None)
        if current and hit:
            results[current], why = _status(hit.group(1))
            if why:
                reasons[current] = why
            current = None
            continue
        if s := SUMMARY.match(line):
            # the summary is authoritative: a verdict the verbose line lost among the test's output
            results[_id(s.group(2), s.group(3))] = STATUS[s.group(1)]
        elif r := RAN.match(line):
            ran = int(r.group(1))
    return results, reasons, ran


def counts(results: dict[str, str]) -> dict[str, int]:
    c = {k: 0 for k in KINDS}
    for v in results.values():
        c[v] += 1
    return {k: v for k, v in c.items() if v or k in ("pass", "fail", "error", "skip")}


@dataclass(frozen=True)
class Run:
    """One boot's run of the suite."""
    name: str                      # inbox | ours | upstream
    kernel: str
    ok: bool                       # the suite ran to its end (whatever its verdicts)
    reason: str
    results: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)   # skip reasons
    ran: int | None = None
    console: str = ""
    initramfs_bytes: int = 0
    seconds: float = 0.0
    steps: tuple = ()

    @classmethod
    def from_boot(cls, name: str, kernel: str, steps, timed_out: bool, output: str, console: str,
                  initramfs_bytes: int, seconds: float) -> Run:
        results, reasons, ran = parse(output)
        bad = [s for s in steps if s.status == "FAIL"]
        done = any(s.step == "conformance_run" and s.status == "PASS" for s in steps)
        if bad:
            reason = f"{bad[0].step}: {bad[0].detail}"
        elif not done:
            last = steps[-1].step if steps else "boot (no marker from /init)"
            reason = f"after {last}: {'timed out' if timed_out else 'the guest stopped'} before the suite finished"
        elif not results:
            reason = "the suite printed no test verdicts"
        elif ran is not None and ran != sum(1 for t in results if not t.endswith((".setUpClass", ".tearDownClass"))):
            reason = f"read {len(results)} verdicts, but the suite says it ran {ran} tests"
        else:
            reason = ""
        return cls(name, kernel, not reason, reason, results, reasons, ran, console, initramfs_bytes, seconds,
                   tuple(f"{s.step} {s.status} {s.detail}" for s in steps))

    def as_dict(self) -> dict:
        return {"run": self.name, "kernel": self.kernel, "ok": self.ok, "reason": self.reason, "ran": self.ran,
                "counts": counts(self.results), "results": dict(sorted(self.results.items())),
                "skip_reasons": dict(sorted(self.reasons.items())), "console": self.console,
                "initramfs_bytes": self.initramfs_bytes, "seconds": self.seconds, "steps": list(self.steps)}


@dataclass(frozen=True)
class Comparison:
    ok: bool
    reason: str
    runs: dict[str, Run]
    regressions: tuple[str, ...] = ()
    upstream_behaviour: tuple[str, ...] = ()
    gained: tuple[str, ...] = ()
    changed: tuple[tuple[str, str, str], ...] = ()   # (test, inbox, ours) differing otherwise

    def summary(self) -> str:
        if not self.ok and not self.regressions:
            return self.reason
        per = "; ".join(f"{n} {'/'.join(f'{v} {k}' for k, v in counts(r.results).items())}"
                        for n, r in self.runs.items())
        head = (f"{len(self.regressions)} backport regressions ({', '.join(self.regressions[:5])})"
                if self.regressions else "0 backport regressions")
        u = self.runs.get("upstream")
        ref = ("" if u and u.ok else f" (upstream-kernel run unusable, {u.reason}: inbox is the only reference)" if u
               else " (no upstream-kernel run: inbox is the only reference)")
        return (f"{head}, {len(self.upstream_behaviour)} upstream behaviour, {len(self.gained)} gained, "
                f"{len(self.changed)} otherwise changed{ref}; {per}")

    def as_dict(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, "summary": self.summary(),
                "regressions": list(self.regressions), "upstream_behaviour": list(self.upstream_behaviour),
                "gained": list(self.gained), "changed": [list(c) for c in self.changed],
                "counts": {n: counts(r.results) for n, r in self.runs.items()},
                "runs": {n: r.as_dict() for n, r in self.runs.items()}}


def compare(runs: dict[str, Run]) -> Comparison:
    """Judge ours against the references ("inbox" required, "upstream" optional)."""
    if "inbox" not in runs or "ours" not in runs:
        return Comparison(False, "conformance needs an inbox and an ours run", runs)
    broken = [r for r in (runs["inbox"], runs["ours"]) if not r.ok]
    if broken:
        return Comparison(False, "; ".join(f"run {r.name} on {r.kernel}: {r.reason}" for r in broken), runs)
    inbox, ours = runs["inbox"].results, runs["ours"].results
    # A reference that did not run to its end excuses nothing: judged as if it were absent.
    up = runs["upstream"].results if "upstream" in runs and runs["upstream"].ok else None
    regressions, upstream, gained, changed = [], [], [], []
    for t in sorted(set(inbox) | set(ours)):
        a, b = inbox.get(t, "absent"), ours.get(t, "absent")
        if a == b:
            continue
        if a == "pass":
            (upstream if up is not None and up.get(t, "absent") != "pass" else regressions).append(t)
        elif b == "pass":
            gained.append(t)
        else:
            changed.append((t, a, b))
    reason = f"{len(regressions)} tests pass on the inbox stack but not on ours" if regressions else ""
    return Comparison(not regressions, reason, runs, tuple(regressions), tuple(upstream), tuple(gained), tuple(changed))
