"""Stage 1, fetch: the upstream source, the target's build tree, toolchains, images,
guest userland and the target source's exporter index, into the verified cache."""
