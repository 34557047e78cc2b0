// struct rdmacg_device has no index before 7.x: ib_core then registers its cgroup device
// by name only, as it always did.  A rule rather than a patch, so that a core without the
// assignment (6.12) is simply left alone.  Enabled when !HAVE_RDMACG_DEVICE_INDEX.
@@
expression D, E;
@@
- D->cg_device.index = E;
