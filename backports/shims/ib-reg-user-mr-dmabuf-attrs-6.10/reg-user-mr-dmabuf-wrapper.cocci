// Y's driver implements .reg_user_mr_dmabuf with the udata; our core passes the attribute
// bundle: a wrapper beside the ops table passes &attrs->driver_udata.
@r@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.reg_user_mr_dmabuf = fn,
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
+static struct ib_mr *w(struct ib_pd *pd, u64 offset, u64 length, u64 virt_addr, int fd,
+		       int access_flags, struct uverbs_attr_bundle *attrs)
+{
+	return fn(pd, offset, length, virt_addr, fd, access_flags, attrs ? &attrs->driver_udata : NULL);
+}
+
const struct ib_device_ops ops = {
	...,
-	.reg_user_mr_dmabuf = fn,
+	.reg_user_mr_dmabuf = w,
	...
};

// The wrapper reads attrs->driver_udata: struct uverbs_attr_bundle is defined in uverbs_ioctl.h
// (a second include of it is harmless where the file already has it).
@inc depends on r@
@@
#include <linux/module.h>
+#include <rdma/uverbs_ioctl.h>

@depends on r && !inc@
@@
#include <rdma/ib_verbs.h>
+#include <rdma/uverbs_ioctl.h>
