// The driver's query_device fills device_cap_flags with the old kernel-only bits (their
// names and values come from compat rdma/ib_verbs.h); the wrapper moves them to
// kernel_cap_flags, where our core and the ULPs look.
@r@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.query_device = fn,
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
+static int w(struct ib_device *dev, struct ib_device_attr *attr, struct ib_udata *udata)
+{
+	int ret = fn(dev, attr, udata);
+
+	if (!ret)
+		ofed_ib_kernel_caps_from_device(attr);
+	return ret;
+}
+
const struct ib_device_ops ops = {
	...,
-	.query_device = fn,
+	.query_device = w,
	...
};

// Y's code reading a moved capability of a registered device reads where our core keeps it.

@@
expression E;
@@
(
- E->attrs.device_cap_flags & IB_DEVICE_LOCAL_DMA_LKEY
+ E->attrs.kernel_cap_flags & IBK_LOCAL_DMA_LKEY
|
- E.attrs.device_cap_flags & IB_DEVICE_LOCAL_DMA_LKEY
+ E.attrs.kernel_cap_flags & IBK_LOCAL_DMA_LKEY
)

@@
expression E;
@@
(
- E->attrs.device_cap_flags & IB_DEVICE_UD_TSO
+ E->attrs.kernel_cap_flags & IBK_UD_TSO
|
- E.attrs.device_cap_flags & IB_DEVICE_UD_TSO
+ E.attrs.kernel_cap_flags & IBK_UD_TSO
)

@@
expression E;
@@
(
- E->attrs.device_cap_flags & IB_DEVICE_BLOCK_MULTICAST_LOOPBACK
+ E->attrs.kernel_cap_flags & IBK_BLOCK_MULTICAST_LOOPBACK
|
- E.attrs.device_cap_flags & IB_DEVICE_BLOCK_MULTICAST_LOOPBACK
+ E.attrs.kernel_cap_flags & IBK_BLOCK_MULTICAST_LOOPBACK
)

@@
expression E;
@@
(
- E->attrs.device_cap_flags & IB_DEVICE_INTEGRITY_HANDOVER
+ E->attrs.kernel_cap_flags & IBK_INTEGRITY_HANDOVER
|
- E.attrs.device_cap_flags & IB_DEVICE_INTEGRITY_HANDOVER
+ E.attrs.kernel_cap_flags & IBK_INTEGRITY_HANDOVER
)

@@
expression E;
@@
(
- E->attrs.device_cap_flags & IB_DEVICE_ON_DEMAND_PAGING
+ E->attrs.kernel_cap_flags & IBK_ON_DEMAND_PAGING
|
- E.attrs.device_cap_flags & IB_DEVICE_ON_DEMAND_PAGING
+ E.attrs.kernel_cap_flags & IBK_ON_DEMAND_PAGING
)

@@
expression E;
@@
(
- E->attrs.device_cap_flags & IB_DEVICE_SG_GAPS_REG
+ E->attrs.kernel_cap_flags & IBK_SG_GAPS_REG
|
- E.attrs.device_cap_flags & IB_DEVICE_SG_GAPS_REG
+ E.attrs.kernel_cap_flags & IBK_SG_GAPS_REG
)

@@
expression E;
@@
(
- E->attrs.device_cap_flags & IB_DEVICE_VIRTUAL_FUNCTION
+ E->attrs.kernel_cap_flags & IBK_VIRTUAL_FUNCTION
|
- E.attrs.device_cap_flags & IB_DEVICE_VIRTUAL_FUNCTION
+ E.attrs.kernel_cap_flags & IBK_VIRTUAL_FUNCTION
)

@@
expression E;
@@
(
- E->attrs.device_cap_flags & IB_DEVICE_RDMA_NETDEV_OPA
+ E->attrs.kernel_cap_flags & IBK_RDMA_NETDEV_OPA
|
- E.attrs.device_cap_flags & IB_DEVICE_RDMA_NETDEV_OPA
+ E.attrs.kernel_cap_flags & IBK_RDMA_NETDEV_OPA
)

@@
expression E;
@@
(
- E->attrs.device_cap_flags & IB_DEVICE_ALLOW_USER_UNREG
+ E->attrs.kernel_cap_flags & IBK_ALLOW_USER_UNREG
|
- E.attrs.device_cap_flags & IB_DEVICE_ALLOW_USER_UNREG
+ E.attrs.kernel_cap_flags & IBK_ALLOW_USER_UNREG
)
