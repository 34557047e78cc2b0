"""Stage 3, build: compile against the target and judge the result (kbuild log,
modpost binding, ABI gate, stranded consumers, the gap)."""
