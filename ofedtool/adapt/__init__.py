"""Stage 2, adapt: probes → config.h, compat headers, patches, SmPL and verb shims, and
the generated tree (generate) that carries them."""
