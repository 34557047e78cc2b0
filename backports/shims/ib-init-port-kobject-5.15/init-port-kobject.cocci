// Y's init_port adds the driver's kobjects under the port's: our core calls it as
// ofed_init_port (see shim.toml).
@@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
-	.init_port = fn,
+	.ofed_init_port = fn,
	...
};

// rdmavt refuses to register a driver without it.
@@
expression D;
@@
- D.ops.init_port
+ D.ops.ofed_init_port
