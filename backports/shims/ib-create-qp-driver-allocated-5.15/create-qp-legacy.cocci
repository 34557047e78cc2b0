// The target's create_qp allocates and returns its QP: the ops table names it as the
// driver-allocated form our core knows (see shim.toml), with its own type checked there.
@@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
-	.create_qp = fn,
+	.ofed_create_qp_legacy = fn,
	...
};
