// Port numbers widened from u8 to u32 in ib_device_ops (5.13, 'RDMA: Support more than 255
// rdma ports'). The target's drivers implement the u8 form; a wrapper with the core's signature
// sits beside each ops table. These devices have at most a few ports, so the narrowing in the
// call never loses a value the core can pass them.

@r0@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.query_port = fn,
	...
};

@script:python s0@
ops << r0.ops;
fn << r0.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r0.ops, r0.fn, s0.w;
@@
+static int w(struct ib_device *dev, u32 port, struct ib_port_attr *attr)
+{
+	return fn(dev, port, attr);
+}
+
const struct ib_device_ops ops = {
	...,
-	.query_port = fn,
+	.query_port = w,
	...
};

@r1@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.modify_port = fn,
	...
};

@script:python s1@
ops << r1.ops;
fn << r1.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r1.ops, r1.fn, s1.w;
@@
+static int w(struct ib_device *dev, u32 port, int mask, struct ib_port_modify *props)
+{
+	return fn(dev, port, mask, props);
+}
+
const struct ib_device_ops ops = {
	...,
-	.modify_port = fn,
+	.modify_port = w,
	...
};

@r2@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.get_port_immutable = fn,
	...
};

@script:python s2@
ops << r2.ops;
fn << r2.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r2.ops, r2.fn, s2.w;
@@
+static int w(struct ib_device *dev, u32 port, struct ib_port_immutable *immutable)
+{
+	return fn(dev, port, immutable);
+}
+
const struct ib_device_ops ops = {
	...,
-	.get_port_immutable = fn,
+	.get_port_immutable = w,
	...
};

@r3@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.get_link_layer = fn,
	...
};

@script:python s3@
ops << r3.ops;
fn << r3.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r3.ops, r3.fn, s3.w;
@@
+static enum rdma_link_layer w(struct ib_device *dev, u32 port)
+{
+	return fn(dev, port);
+}
+
const struct ib_device_ops ops = {
	...,
-	.get_link_layer = fn,
+	.get_link_layer = w,
	...
};

@r4@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.get_netdev = fn,
	...
};

@script:python s4@
ops << r4.ops;
fn << r4.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r4.ops, r4.fn, s4.w;
@@
+static struct net_device *w(struct ib_device *dev, u32 port)
+{
+	return fn(dev, port);
+}
+
const struct ib_device_ops ops = {
	...,
-	.get_netdev = fn,
+	.get_netdev = w,
	...
};

@r5@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.alloc_rdma_netdev = fn,
	...
};

@script:python s5@
ops << r5.ops;
fn << r5.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r5.ops, r5.fn, s5.w;
@@
+static struct net_device *w(struct ib_device *dev, u32 port, enum rdma_netdev_t type, const char *name, unsigned char name_assign_type, void (*setup)(struct net_device *))
+{
+	return fn(dev, port, type, name, name_assign_type, setup);
+}
+
const struct ib_device_ops ops = {
	...,
-	.alloc_rdma_netdev = fn,
+	.alloc_rdma_netdev = w,
	...
};

@r6@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.rdma_netdev_get_params = fn,
	...
};

@script:python s6@
ops << r6.ops;
fn << r6.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r6.ops, r6.fn, s6.w;
@@
+static int w(struct ib_device *dev, u32 port, enum rdma_netdev_t type, struct rdma_netdev_alloc_params *params)
+{
+	return fn(dev, port, type, params);
+}
+
const struct ib_device_ops ops = {
	...,
-	.rdma_netdev_get_params = fn,
+	.rdma_netdev_get_params = w,
	...
};

@r7@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.query_gid = fn,
	...
};

@script:python s7@
ops << r7.ops;
fn << r7.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r7.ops, r7.fn, s7.w;
@@
+static int w(struct ib_device *dev, u32 port, int index, union ib_gid *gid)
+{
+	return fn(dev, port, index, gid);
+}
+
const struct ib_device_ops ops = {
	...,
-	.query_gid = fn,
+	.query_gid = w,
	...
};

@r8@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.query_pkey = fn,
	...
};

@script:python s8@
ops << r8.ops;
fn << r8.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r8.ops, r8.fn, s8.w;
@@
+static int w(struct ib_device *dev, u32 port, u16 index, u16 *pkey)
+{
+	return fn(dev, port, index, pkey);
+}
+
const struct ib_device_ops ops = {
	...,
-	.query_pkey = fn,
+	.query_pkey = w,
	...
};

@r9@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.process_mad = fn,
	...
};

@script:python s9@
ops << r9.ops;
fn << r9.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r9.ops, r9.fn, s9.w;
@@
+static int w(struct ib_device *dev, int flags, u32 port, const struct ib_wc *in_wc, const struct ib_grh *in_grh, const struct ib_mad *in_mad, struct ib_mad *out_mad, size_t *out_mad_size, u16 *out_mad_pkey_index)
+{
+	return fn(dev, flags, port, in_wc, in_grh, in_mad, out_mad, out_mad_size, out_mad_pkey_index);
+}
+
const struct ib_device_ops ops = {
	...,
-	.process_mad = fn,
+	.process_mad = w,
	...
};

@r10@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.set_vf_link_state = fn,
	...
};

@script:python s10@
ops << r10.ops;
fn << r10.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r10.ops, r10.fn, s10.w;
@@
+static int w(struct ib_device *dev, int vf, u32 port, int state)
+{
+	return fn(dev, vf, port, state);
+}
+
const struct ib_device_ops ops = {
	...,
-	.set_vf_link_state = fn,
+	.set_vf_link_state = w,
	...
};

@r11@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.get_vf_config = fn,
	...
};

@script:python s11@
ops << r11.ops;
fn << r11.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r11.ops, r11.fn, s11.w;
@@
+static int w(struct ib_device *dev, int vf, u32 port, struct ifla_vf_info *ivf)
+{
+	return fn(dev, vf, port, ivf);
+}
+
const struct ib_device_ops ops = {
	...,
-	.get_vf_config = fn,
+	.get_vf_config = w,
	...
};

@r12@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.get_vf_stats = fn,
	...
};

@script:python s12@
ops << r12.ops;
fn << r12.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r12.ops, r12.fn, s12.w;
@@
+static int w(struct ib_device *dev, int vf, u32 port, struct ifla_vf_stats *stats)
+{
+	return fn(dev, vf, port, stats);
+}
+
const struct ib_device_ops ops = {
	...,
-	.get_vf_stats = fn,
+	.get_vf_stats = w,
	...
};

@r13@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.get_vf_guid = fn,
	...
};

@script:python s13@
ops << r13.ops;
fn << r13.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r13.ops, r13.fn, s13.w;
@@
+static int w(struct ib_device *dev, int vf, u32 port, struct ifla_vf_guid *node_guid, struct ifla_vf_guid *port_guid)
+{
+	return fn(dev, vf, port, node_guid, port_guid);
+}
+
const struct ib_device_ops ops = {
	...,
-	.get_vf_guid = fn,
+	.get_vf_guid = w,
	...
};

@r14@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.set_vf_guid = fn,
	...
};

@script:python s14@
ops << r14.ops;
fn << r14.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r14.ops, r14.fn, s14.w;
@@
+static int w(struct ib_device *dev, int vf, u32 port, u64 guid, int type)
+{
+	return fn(dev, vf, port, guid, type);
+}
+
const struct ib_device_ops ops = {
	...,
-	.set_vf_guid = fn,
+	.set_vf_guid = w,
	...
};

@r15@
identifier ops, fn;
@@
const struct ib_device_ops ops = {
	...,
	.get_hw_stats = fn,
	...
};

@script:python s15@
ops << r15.ops;
fn << r15.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn + "_" + ops)

@@
identifier r15.ops, r15.fn, s15.w;
@@
+static int w(struct ib_device *dev, struct rdma_hw_stats *stats, u32 port, int index)
+{
+	return fn(dev, stats, port, index);
+}
+
const struct ib_device_ops ops = {
	...,
-	.get_hw_stats = fn,
+	.get_hw_stats = w,
	...
};

// rdma_netdev_alloc_params.initialize_rdma_netdev, filled in by the driver's
// rdma_netdev_get_params (hfi1): a wrapper before the function that assigns it.
@ri@
identifier f, fn;
expression E;
@@
f(...) {
	<...
	E->initialize_rdma_netdev = fn;
	...>
}

@script:python si@
fn << ri.fn;
w;
@@
coccinelle.w = cocci.make_ident("ofed_shim_" + fn)

@@
identifier ri.fn, si.w;
expression E;
@@
	E->initialize_rdma_netdev =
-	fn
+	w
	;

@@
identifier ri.f, ri.fn, si.w;
type T;
@@
+static int w(struct ib_device *dev, u32 port, struct net_device *netdev, void *param)
+{
+	return fn(dev, port, netdev, param);
+}
+
T f(...) { ... }
