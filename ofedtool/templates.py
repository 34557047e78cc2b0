"""The one jinja2 environment over recipes/: generated Kbuild/Makefile, packages, the guest's /init."""

from __future__ import annotations

from functools import cache

import shlex

import jinja2

from . import __version__
from .catalog import data_dir


@cache
def environment() -> jinja2.Environment:
    # StrictUndefined: a template naming a value nobody passes fails, never renders "".
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(data_dir("recipes"))),
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters["q"] = shlex.quote  # names that are the user's (certificates): quoted for a shell
    return env


def render(template: str, **ctx) -> str:
    """recipes/<template> with ctx and `ofedtool_version`. `version` is the caller's: the
    package's in package recipes, ofedtool's in the generated Kbuild/Makefile."""
    return environment().get_template(template).render(ofedtool_version=__version__, **ctx)
