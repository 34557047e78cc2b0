// Y's driver implements .create_cq with the udata of its kernel; our core passes the attribute
// bundle (the udata is its driver_udata, NULL for a kernel CQ): a wrapper beside the ops table.
@r@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.create_cq = fn,
	...
};

@script:python s@
fn << r.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn)

@@
identifier r.ops, r.fn, s.w;
@@
+static int w(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
+	     struct uverbs_attr_bundle *attrs)
+{
+	return fn(ibcq, attr, attrs ? &attrs->driver_udata : NULL);
+}
+
const struct ib_device_ops ops = {
	...,
-	.create_cq = fn,
+	.create_cq = w,
	...
};
