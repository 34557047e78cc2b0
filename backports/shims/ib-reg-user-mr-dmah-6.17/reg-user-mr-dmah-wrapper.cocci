// Our core passes a DMA handle (struct ib_dmah, 6.17) to reg_user_mr and reg_user_mr_dmabuf.
// Only a driver with .alloc_dmah makes one, and the target's drivers have none, so it is
// always NULL for them; a non-NULL one is refused rather than ignored.
@r@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.reg_user_mr = fn,
	...
};

@script:python s@
ops << r.ops;
fn << r.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_dmah_" + fn + "_" + ops)

@@
identifier r.ops, r.fn, s.w;
@@
+static struct ib_mr *w(struct ib_pd *pd, u64 start, u64 length, u64 virt_addr,
+		       int access_flags, struct ib_dmah *dmah, struct ib_udata *udata)
+{
+	if (dmah)
+		return ERR_PTR(-EOPNOTSUPP);
+	return fn(pd, start, length, virt_addr, access_flags, udata);
+}
+
const struct ib_device_ops ops = {
	...,
-	.reg_user_mr = fn,
+	.reg_user_mr = w,
	...
};

@rd@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.reg_user_mr_dmabuf = fn,
	...
};

@script:python sd@
ops << rd.ops;
fn << rd.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_dmah_" + fn + "_" + ops)

@@
identifier rd.ops, rd.fn, sd.w;
@@
+static struct ib_mr *w(struct ib_pd *pd, u64 offset, u64 length, u64 virt_addr, int fd,
+		       int access_flags, struct ib_dmah *dmah, struct uverbs_attr_bundle *attrs)
+{
+	if (dmah)
+		return ERR_PTR(-EOPNOTSUPP);
+	return fn(pd, offset, length, virt_addr, fd, access_flags, attrs);
+}
+
const struct ib_device_ops ops = {
	...,
-	.reg_user_mr_dmabuf = fn,
+	.reg_user_mr_dmabuf = w,
	...
};
