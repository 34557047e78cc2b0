// counter_bind_qp/counter_unbind_qp gained the port number; the target's driver reads the
// port from the QP as before, so the wrappers drop it.
@r@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.counter_bind_qp = fn,
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
+static int w(struct rdma_counter *counter, struct ib_qp *qp, u32 port)
+{
+	return fn(counter, qp);
+}
+
const struct ib_device_ops ops = {
	...,
-	.counter_bind_qp = fn,
+	.counter_bind_qp = w,
	...
};

@ru@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.counter_unbind_qp = fn,
	...
};

@script:python su@
ops << ru.ops;
fn << ru.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier ru.ops, ru.fn, su.w;
@@
+static int w(struct ib_qp *qp, u32 port)
+{
+	return fn(qp);
+}
+
const struct ib_device_ops ops = {
	...,
-	.counter_unbind_qp = fn,
+	.counter_unbind_qp = w,
	...
};
