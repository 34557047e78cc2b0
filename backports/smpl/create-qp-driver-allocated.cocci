// The target's drivers allocate their QP in create_qp and free it in destroy_qp; the core
// allocates it from 5.15 (X's create_qp fills a QP the core made, and the core frees it after
// destroy_qp).  For a driver with .ofed_create_qp_legacy and no size_ib_qp (the shim
// ib-create-qp-driver-allocated-5.15; include/rdma/ib_verbs.h.patch) the core asks the driver
// for the QP instead of allocating it, never frees it, and touches nothing of it once the
// driver's destroy_qp has run.  A rule rather than a patch: the udata
// expressions differ between X's (6.12 passes the udata, 7.x the attribute bundle).
// Enabled when !HAVE_CREATE_QP_CORE_ALLOCATED.

// The udata create_qp passes the driver, and the one its error path passes destroy_qp.
@u@
symbol dev, qp, attr, ret, udata, ib_qp, pd;
expression U;
@@
static struct ib_qp *create_qp(...)
{
<+...
	dev->ops.create_qp(qp, attr, U)
...+>
}

@cu@
symbol dev, qp, attr, ret, udata, ib_qp, pd;
expression CU;
@@
static struct ib_qp *create_qp(...)
{
<+...
	qp->device->ops.destroy_qp(qp, CU);
...+>
}

@depends on u@
symbol dev, qp, attr, ret, udata, ib_qp, pd;
expression u.U;
@@
static struct ib_qp *create_qp(...)
{
<...
- qp = rdma_zalloc_drv_obj_numa(dev, ib_qp);
+ if (!dev->ops.size_ib_qp) {
+	qp = dev->ops.ofed_create_qp_legacy(pd, attr, U);
+	if (IS_ERR(qp))
+		return qp;
+ } else
+	qp = rdma_zalloc_drv_obj_numa(dev, ib_qp);
...>
}

// The QP is the driver's already: the core's fields are set above, as the old core set them
// after the driver returned.
@depends on u@
symbol dev, qp, attr, ret, udata, ib_qp, pd;
expression u.U;
@@
static struct ib_qp *create_qp(...)
{
<...
- ret = dev->ops.create_qp(qp, attr, U);
+ ret = !dev->ops.size_ib_qp ? 0 : dev->ops.create_qp(qp, attr, U);
...>
}

// The driver's destroy_qp frees the QP: release the core's hold on it first, and never free it.
@depends on cu@
symbol dev, qp, attr, ret, udata, ib_qp, pd;
expression cu.CU;
@@
static struct ib_qp *create_qp(...)
{
<...
  ret = ib_create_qp_security(qp, dev);
+ if (ret && !dev->ops.size_ib_qp) {
+	rdma_restrack_put(&qp->res);
+	dev->ops.destroy_qp(qp, CU);
+	return ERR_PTR(ret);
+ }
...>
}

@d depends on u@
symbol dev, qp, attr, ret, udata, ib_qp, pd;
@@
int ib_destroy_qp_user(struct ib_qp *qp, struct ib_udata *udata)
{
<...
+ if (!qp->device->ops.size_ib_qp)
+	return ofed_destroy_legacy_qp(qp, udata, sec, alt_path_sgid_attr,
+				      av_sgid_attr);
  ret = qp->device->ops.destroy_qp(qp, udata);
...>
}

// Everything the core does with the QP after destroy_qp happens before it (the order of the
// core that let drivers own their QPs); on failure the QP stays, no longer listed by restrack.
@depends on d@
symbol dev, qp, attr, ret, udata, ib_qp, pd;
@@
+static int ofed_destroy_legacy_qp(struct ib_qp *qp, struct ib_udata *udata,
+				  struct ib_qp_security *sec,
+				  const struct ib_gid_attr *alt_path_sgid_attr,
+				  const struct ib_gid_attr *av_sgid_attr)
+{
+	int ret;
+
+	ib_qp_usecnt_dec(qp);
+	rdma_restrack_commit_del(&qp->res);
+	ret = qp->device->ops.destroy_qp(qp, udata);
+	if (ret) {
+		ib_qp_usecnt_inc(qp);
+		if (sec)
+			ib_destroy_qp_security_abort(sec);
+		return ret;
+	}
+	if (alt_path_sgid_attr)
+		rdma_put_gid_attr(alt_path_sgid_attr);
+	if (av_sgid_attr)
+		rdma_put_gid_attr(av_sgid_attr);
+	if (sec)
+		ib_destroy_qp_security_end(sec);
+	return 0;
+}
+
int ib_destroy_qp_user(struct ib_qp *qp, struct ib_udata *udata)
{
...
}
