// rereg_user_mr returns the MR (NULL: changed in place, as every driver of the old form does;
// an ERR_PTR on failure) instead of an int: a wrapper beside the ops table.
@r@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.rereg_user_mr = fn,
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
+static struct ib_mr *w(struct ib_mr *mr, int flags, u64 start, u64 length, u64 virt_addr,
+		       int access, struct ib_pd *pd, struct ib_udata *udata)
+{
+	int ret = fn(mr, flags, start, length, virt_addr, access, pd, udata);
+
+	return ret ? ERR_PTR(ret) : NULL;
+}
+
const struct ib_device_ops ops = {
	...,
-	.rereg_user_mr = fn,
+	.rereg_user_mr = w,
	...
};
