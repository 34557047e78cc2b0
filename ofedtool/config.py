"""User configuration: ~/.config/ofedtool/config.toml (or $OFEDTOOL_CONFIG). Optional.

Keys: git_url (the source remote), cache_dir, jobs.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from .errors import OfedError


def config_path() -> Path:
    return Path(os.environ.get("OFEDTOOL_CONFIG") or "~/.config/ofedtool/config.toml").expanduser()


def load_config() -> dict:
    p = config_path()
    if not p.exists():
        return {}
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise OfedError(f"config file {p}: {e}") from None
