// The target's hfi1 and ib_qib add their own kobjects under each port's sysfs directory from
// init_port (ops.port_groups replaced it in 5.15): a driver that sets .ofed_init_port (the
// shim ib-init-port-kobject-5.15) is called with the port's kobject after the port's groups,
// as the old core called init_port; the driver removes its kobjects itself before it
// unregisters. Enabled when !HAVE_INIT_PORT_REMOVED.
@@
symbol is_full_dev, ret, p, device, port_num;
@@
 	if (is_full_dev) {
 		ret = sysfs_create_groups(&p->kobj, device->ops.port_groups);
 		if (ret)
 			goto err_groups;
+		if (device->ops.ofed_init_port) {
+			ret = device->ops.ofed_init_port(device, port_num, &p->kobj);
+			if (ret)
+				goto err_groups;
+		}
 	}
