// The target's drivers answer alloc_hw_stats with NULL where a device or port has no counters
// (mlx5 outside switchdev for the device, cxgb4 and i40iw for ports, rdmavt's drivers as they
// choose), which the old core skipped; ours fails the registration on it. Through the
// ib-alloc-hw-stats-split-5.14 wrappers a NULL is "no counters here" again (-EOPNOTSUPP, which
// the callers skip). Enabled when !HAVE_ALLOC_HW_PORT_STATS.
@@
symbol ibdev, port;
expression S;
@@
 S = \( ibdev->ops.alloc_hw_device_stats(...) \| ibdev->ops.alloc_hw_port_stats(...) \);
 if (!S)
-	return ERR_PTR(-ENOMEM);
+	return ERR_PTR(-EOPNOTSUPP);
