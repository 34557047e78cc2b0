"""ofedtool build (filled in by the engine work)."""

from ..errors import OfedError


def add_arguments(p) -> None:
    pass


def run(args, cache):
    raise OfedError("build: not implemented yet")
