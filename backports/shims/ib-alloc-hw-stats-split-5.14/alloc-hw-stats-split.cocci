// Y's driver has one alloc_hw_stats(device, port), port 0 being the device: a wrapper for
// each of our core's two callbacks beside the ops table.
@r@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.alloc_hw_stats = fn,
	...
};

@script:python s@
ops << r.ops;
fn << r.fn;
wd;
wp;
@@
coccinelle.wd = cocci.make_ident("ofed_shim_" + fn + "_device_" + ops)
coccinelle.wp = cocci.make_ident("ofed_shim_" + fn + "_port_" + ops)

@@
identifier r.ops, r.fn, s.wd, s.wp;
@@
+static struct rdma_hw_stats *wd(struct ib_device *ibdev)
+{
+	return fn(ibdev, 0);
+}
+
+static struct rdma_hw_stats *wp(struct ib_device *ibdev, u32 port_num)
+{
+	return fn(ibdev, port_num);
+}
+
const struct ib_device_ops ops = {
	...,
-	.alloc_hw_stats = fn,
+	.alloc_hw_device_stats = wd,
+	.alloc_hw_port_stats = wp,
	...
};
