"""Every default the library and the command line share, each written once."""

from __future__ import annotations

import os

# The modules built when --modules is not given (groups or names from backports/modules.toml):
# the whole RDMA stack the target ships (group stack), narrowed per target to what its own
# .config builds (pipeline.buildable), so installing our packages strands no distro module.
DEFAULT_MODULES = "stack"
# Where --from comes from: kernel.org's git, Debian's linux-source, or git falling back to Debian.
SOURCES = ("git", "debian", "auto")
DEFAULT_SOURCE = "auto"
DEFAULT_JOBS = os.cpu_count() or 1
