"""The exceptions the CLI turns into one line and an exit code (ofedtool/cli.py main()).

Exit codes: 0 success; 1 a build, check or test judged the result bad (Failed, or a command's
result with ok false); 2 bad usage or input (OfedError, argparse): a name, path, tool, file or
remote that cannot be used; 70 an internal error (a bug: one line, the traceback saved to a
file); 130 interrupted; 141 stdout closed early (a pipe into head).
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # sysexits EX_SOFTWARE
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it


class OfedError(Exception):
    """A user-facing failure. str(exc) is the whole message: one line naming the thing."""

    exit_code = EXIT_USAGE


class Failed(OfedError):
    """The work ran and its result was judged bad: a build, a boot test, the rules not applying."""

    exit_code = EXIT_FAILED


class MissingTool(OfedError):
    def __init__(self, tool: str, package: str):
        super().__init__(f"required tool '{tool}' not found: install the Debian package '{package}'")
        self.tool = tool
        self.package = package
