"""The library's typed requests: where things are kept (Session), what to backport (Selection)
and how to build it (BuildOptions). Below pipeline and every stage, so that a stage (check's
matrix, release, vmtest) takes them without importing the library that calls it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .defaults import DEFAULT_JOBS, DEFAULT_MODULES, DEFAULT_SOURCE


@dataclass(frozen=True)
class Session:
    """Where things are kept and whether remotes may be reached."""
    cache: object          # ofedtool.fetch.cache.Cache
    offline: bool = False


@dataclass(frozen=True)
class Selection:
    """What to backport: X (from_), onto Y (kernel), which modules, X's provider."""
    kernel: str
    from_: str
    modules: str = DEFAULT_MODULES
    source: str = DEFAULT_SOURCE
    git_url: str | None = None
    leave: tuple[str, ...] = ()    # distro modules left to the distro (pipeline.parse_leave's names)
    rules: tuple[tuple[str, str], ...] = ()   # --rule NAME=upstream|target (modules.parse_rules)

    @property
    def whole_stack(self) -> bool:
        """The default selection: every module the target ships, so one left behind is a failure."""
        return self.modules == DEFAULT_MODULES

    def argv(self) -> list[str]:
        """The same selection as `ofedtool build` options (check's child processes)."""
        return ["--kernel", self.kernel, "--from", self.from_, "--modules", self.modules,
                "--source", self.source, *(["--git-url", self.git_url] if self.git_url else []),
                *(["--leave", ",".join(self.leave)] if self.leave else []),
                *(["--rule", ",".join(f"{n}={r}" for n, r in self.rules)] if self.rules else [])]


@dataclass(frozen=True)
class BuildOptions:
    jobs: int = DEFAULT_JOBS
    output: Path | None = None     # default build/<target>-<release>_from-<X>
    ccache: bool | None = None     # None: when ccache is installed

    def argv(self) -> list[str]:
        return ["-j", str(self.jobs), *(["-o", str(self.output)] if self.output else []),
                *({True: ["--ccache"], False: ["--no-ccache"]}.get(self.ccache, []))]
