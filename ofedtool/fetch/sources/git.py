"""A kernel git remote (kernel.org stable by default) as the upstream source.

One persistent mirror per remote in the cache: a blob-less (partial), shallow repository with a
sparse checkout of the RDMA paths. Fetching a tag downloads its commit and trees plus only the
blobs under the RDMA paths; a second tag reuses the mirror and its objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import git as gitpy

from ... import ui
from ...catalog import FromSpec
from ...errors import OfedError
from . import SOURCE_KIND, SourceTree, fetch_paths, load_tree, makefile_version, paths_key

DEFAULT_URL = "https://git.kernel.org/pub/scm/linux/kernel/git/stable/linux.git"


class RemoteUnreachable(OfedError):
    pass


class NotCached(OfedError):
    """--offline and the cache holds no source from this remote: --source auto looks at Debian's."""


def remote_url(url: str | None = None) -> str:
    """--git-url, else $OFEDTOOL_GIT_URL, else the config file, else kernel.org stable."""
    if url:
        return _usable(url, "--git-url")
    if os.environ.get("OFEDTOOL_GIT_URL"):
        return _usable(os.environ["OFEDTOOL_GIT_URL"], "$OFEDTOOL_GIT_URL")
    from ...config import config_path, load_config
    got = load_config().get("git_url")
    return _usable(got, f"git_url in {config_path()}") if got else DEFAULT_URL


def _usable(url: str, where: str) -> str:
    """Refuse what GitPython refuses to run (remote helpers `a::b`, ext::, options as URLs) with
    the setting's name, before any git command: a bad setting is an input error, never a reason
    for --source auto to fall back quietly."""
    try:
        gitpy.Git.check_unsafe_protocols(url)
    except gitpy.exc.UnsafeProtocolError:
        raise OfedError(f"{where} = {url!r}: not a git URL ofedtool can use "
                        f"(give https://..., git://..., ssh://..., user@host:path or a local path)") from None
    if url.startswith("-"):
        raise OfedError(f"{where} = {url!r}: not a git URL (starts with '-')")
    return url


def _git_env() -> dict:
    # Never prompt for credentials on an unreachable/private remote: fail instead.
    return {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true"}


def list_tags(url: str, prefix: str) -> list[str]:
    g = gitpy.cmd.Git()
    try:
        out = g.ls_remote("--tags", "--refs", url, f"refs/tags/{prefix}*",
                          env=_git_env(), kill_after_timeout=120)
    except gitpy.GitCommandError as e:
        msg = (e.stderr or "").strip().replace("\n", " ").removeprefix("stderr: ").strip("' ")
        raise RemoteUnreachable(f"git remote {url} unreachable: {msg[:200] or e}") from None
    return [line.split("refs/tags/", 1)[1] for line in out.splitlines() if "refs/tags/" in line]


def choose_tag(spec: FromSpec, tags: list[str], url: str) -> str:
    if spec.exact_tag:
        if spec.exact_tag in tags:
            return spec.exact_tag
        raise OfedError(f"tag {spec.exact_tag} not found on {url}")
    rx = re.compile(rf"^{re.escape(spec.release.tag_prefix)}(?:\.(\d+))?$")
    subs = {}
    for t in tags:
        m = rx.match(t)
        if m:
            subs[int(m.group(1) or 0)] = t
    if spec.sublevel is not None:
        if spec.sublevel in subs:
            return subs[spec.sublevel]
        raise OfedError(f"tag {spec.release.tag_prefix}.{spec.sublevel} not found on {url}")
    if not subs:
        raise OfedError(f"no {spec.release.tag_prefix}[.N] tag on {url}")
    return subs[max(subs)]


def _mirror(cache, url: str) -> Path:
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    return cache.path("git", key)


def _open_mirror(path: Path, url: str, paths: list[str]) -> gitpy.Repo:
    if (path / ".git").is_dir():
        repo = gitpy.Repo(path)
    else:
        if path.exists():
            shutil.rmtree(path)  # half-made mirror from an interrupted run
        tmp = path.with_name(path.name + ".init")
        shutil.rmtree(tmp, ignore_errors=True)
        repo = gitpy.Repo.init(tmp)
        with repo.config_writer() as cw:
            cw.set_value('remote "origin"', "url", url)
            cw.set_value('remote "origin"', "promisor", "true")
            cw.set_value('remote "origin"', "partialclonefilter", "blob:none")
            cw.set_value("core", "sparseCheckout", "true")
            cw.set_value("gc", "auto", "0")
        os.rename(tmp, path)
        repo = gitpy.Repo(path)
    sparse = "".join(f"/{p}\n" if not p.endswith("/") else f"/{p}\n" for p in paths)
    info = Path(repo.git_dir) / "info"
    info.mkdir(exist_ok=True)
    (info / "sparse-checkout").write_text(sparse)
    return repo


def fetch(cache, spec: FromSpec, url: str | None = None, offline: bool = False) -> SourceTree:
    url = remote_url(url)
    mirror = _mirror(cache, url)
    # An exact tag already in the cache needs no remote at all.
    if spec.exact_tag or spec.sublevel is not None:
        exact = spec.exact_tag or f"{spec.release.tag_prefix}.{spec.sublevel}"
        entry = cache.path("sources", "git", mirror.name, f"{exact}-{paths_key(fetch_paths())}")
        if (got := cache.get(str(entry.relative_to(cache.root)), SOURCE_KIND)) is not None:
            return load_tree(got)
    if offline:
        # Offline: the newest tag already materialised for this series.
        key = paths_key(fetch_paths())
        done = sorted(cache.path("sources", "git", mirror.name).glob(f"{spec.release.tag_prefix}*-{key}"))
        tags = [p.name.removesuffix(f"-{key}") for p in done if (p / "manifest.json").exists()]
        if not tags:
            raise NotCached(f"--offline: no {spec.release.tag_prefix} source from {url} in the cache")
        tag = choose_tag(spec, tags, url)
    else:
        tag = choose_tag(spec, list_tags(url, spec.release.tag_prefix), url)
    paths = fetch_paths()
    rel = f"sources/git/{mirror.name}/{tag}-{paths_key(paths)}"
    if (entry := cache.get(rel, SOURCE_KIND)) is not None:
        return load_tree(entry)

    def create(tmp: Path) -> None:
        with cache.lock(f"git-{mirror.name}"):
            repo = _open_mirror(mirror, url, paths)
            ui.info(f"[fetch] git fetch {tag} from {url} (blob-less, depth 1, RDMA paths only)")
            try:
                repo.git.fetch("--depth=1", "--filter=blob:none", "--no-tags", "origin",
                               f"+refs/tags/{tag}:refs/tags/{tag}", env=_git_env())
                # The sparse checkout makes git fetch the RDMA blobs, in one batch.
                repo.git.checkout("--force", "--detach", f"refs/tags/{tag}", env=_git_env())
            except gitpy.GitCommandError as e:
                msg = (e.stderr or "").strip().splitlines()
                raise RemoteUnreachable(f"git fetch {tag} from {url} failed: {msg[-1] if msg else e}") from None
            commit = repo.head.commit.hexsha
            tag_obj = repo.git.rev_parse(f"refs/tags/{tag}")
            tmp.mkdir(parents=True)
            for p in paths:
                src = mirror / p
                dst = tmp / p
                if src.is_dir():
                    shutil.copytree(src, dst, symlinks=True)
                elif src.exists():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
        if not (tmp / "drivers/infiniband").is_dir():
            raise OfedError(f"tag {tag} on {url} has no drivers/infiniband")
        manifest = {"provider": "git", "version": makefile_version(tmp), "remote": url, "tag": tag,
                    "commit": commit, "tag_object": tag_obj, "paths": paths}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    return load_tree(cache.ensure(rel, create, kind=SOURCE_KIND))
