// .resize_cq became .resize_user_cq with an unsigned count (uverbs is its only caller): the
// target's driver keeps its function, called through a wrapper under the new name.
@r@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.resize_cq = fn,
	...
};

@script:python s@
ops << r.ops;
fn << r.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r.ops, r.fn, s.w;
@@
+static int w(struct ib_cq *ibcq, unsigned int cqe, struct ib_udata *udata)
+{
+	if (cqe > INT_MAX)
+		return -EINVAL;
+	return fn(ibcq, cqe, udata);
+}
+
const struct ib_device_ops ops = {
	...,
-	.resize_cq = fn,
+	.resize_user_cq = w,
	...
};
