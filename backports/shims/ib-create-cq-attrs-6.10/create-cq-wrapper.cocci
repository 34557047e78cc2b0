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
ops << r.ops;
fn << r.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

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
