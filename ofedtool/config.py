"""User configuration: ~/.config/ofedtool/config.toml (or $OFEDTOOL_CONFIG). Optional.

Keys: git_url (the source remote), cache_dir, jobs. Each is checked for its type when read: a
wrong one is one error line naming the file and the key, not a failure somewhere later.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from .errors import OfedError

# key → (type, what it must be)
KEYS = {"git_url": (str, "a string (a git remote URL)"), "cache_dir": (str, "a string (a directory)"),
        "jobs": (int, "an integer")}


def config_path() -> Path:
    return Path(os.environ.get("OFEDTOOL_CONFIG") or "~/.config/ofedtool/config.toml").expanduser()


def load_config() -> dict:
    p = config_path()
    if not p.exists():
        return {}
    try:
        with open(p, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise OfedError(f"config file {p}: {e}") from None
    except OSError as e:
        raise OfedError(f"config file {p}: {e.strerror}") from None
    for key, value in doc.items():
        if key not in KEYS:
            from . import ui
            ui.warn(f"config file {p}: unknown key '{key}' ignored (known: {', '.join(KEYS)})")
            continue
        typ, what = KEYS[key]
        if not isinstance(value, typ) or isinstance(value, bool):
            raise OfedError(f"config file {p}: {key} = {value!r}: must be {what}")
    if doc.get("jobs") is not None and doc["jobs"] < 1:
        raise OfedError(f"config file {p}: jobs = {doc['jobs']}: must be at least 1")
    return doc
