"""ofedtool: backport the upstream RDMA stack to distro kernels."""

__version__ = "0.1.0"
