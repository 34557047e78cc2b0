"""The one exception the CLI turns into a one-line message and a non-zero exit."""


class OfedError(Exception):
    """A user-facing failure. str(exc) is the whole message: one line naming the thing."""

    exit_code = 1


class MissingTool(OfedError):
    def __init__(self, tool: str, package: str):
        super().__init__(f"required tool '{tool}' not found: install the Debian package '{package}'")
        self.tool = tool
        self.package = package
