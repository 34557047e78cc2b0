/* SPDX-License-Identifier: GPL-2.0 */
/*
 * devlink_port_type_ib_set(port, ibdev), built into the target's vmlinux, keeps ibdev in the
 * port (type_ib.ibdev, 5.10's type_dev) and reads ibdev->name, at the target's offset in
 * struct ib_device, whenever the port is dumped over netlink (`devlink port show`,
 * DEVLINK_ATTR_PORT_IBDEV_NAME; and the PORT_NEW notification the call itself sends). Handed
 * our device (mlx4_ib's, laid out as X's core lays it out) it would copy whatever lies at that
 * offset as a string. devlink reads nothing else of the device and does nothing else with it.
 *
 * So the target-rule drivers' calls keep the port's type, IB, and hand devlink no device:
 * devlink_port_type_ib_set(port, NULL) is what the target's own mlx4_core does for an IB port
 * when no IB driver is built, and devlink's dump then leaves the ibdev name out. Clearing the
 * type instead (devlink_port_type_clear) would be wrong: a physical port left NOTSET makes
 * devlink warn "Type was not set for devlink port" an hour later (a WARN on 5.10).
 *
 * The call still imports devlink_port_type_ib_set, whose CRC differs over our headers: the
 * OFED_ABI_REDIRECTED_ macro tells the ABI gate (ofedtool/build/abi.py) that every call of ours
 * goes through this redirect, which passes no RDMA structure. It is defined only where the
 * redirect is, so on X -> X (OFED_CORE_RDMA_HEADERS_ARE_TARGETS) both are gone.
 */
#ifndef _OFED_COMPAT_NET_DEVLINK_H
#define _OFED_COMPAT_NET_DEVLINK_H

#include_next <net/devlink.h>

#if defined(HAVE_DEVLINK_PORT_TYPE_IB_SET) && !defined(OFED_CORE_RDMA_HEADERS_ARE_TARGETS)
/* Not in a genksyms pass: the ABI gate preprocesses the target's own definition over our
 * headers, which must keep its name. */
#ifndef __GENKSYMS__
static inline void ofed_devlink_port_type_ib_set(struct devlink_port *devlink_port, struct ib_device *ibdev)
{
	devlink_port_type_ib_set(devlink_port, NULL);
}
#define devlink_port_type_ib_set(devlink_port, ibdev) ofed_devlink_port_type_ib_set(devlink_port, ibdev)
#define OFED_ABI_REDIRECTED_devlink_port_type_ib_set \
	"called with no ib_device (compat/include/net/devlink.h): devlink only stores it and reads its name"
#endif
#endif

/*
 * The devl_* calls of 6.3 run under the instance lock the caller holds (devl_lock). The
 * target's devlink_* counterparts for parameters and health reporters take no instance lock
 * (parameters are a plain list, reporters have their own mutex), so under devl_lock they are
 * the same calls. Registering parameters after devlink_register() only became legal in 6.3:
 * X's mlx5 registers the instance last here (patches/.../mlx5/core/main.c.patch), as the
 * target's own drivers do.
 */
#ifndef HAVE_DEVL_PARAMS_REGISTER
#define devl_params_register devlink_params_register
#define devl_params_unregister devlink_params_unregister
#define devl_param_driverinit_value_get devlink_param_driverinit_value_get
#define devl_param_driverinit_value_set devlink_param_driverinit_value_set
#endif

#ifndef HAVE_DEVL_HEALTH_REPORTER_CREATE
#define devl_health_reporter_create devlink_health_reporter_create
#define devl_health_reporter_destroy devlink_health_reporter_destroy
#endif

/* No nested instances before 6.7: the nested devlink (mlx5's Ethernet one) stands alone. */
#ifndef HAVE_DEVL_NESTED_DEVLINK_SET
#define devl_nested_devlink_set(devlink, nested_devlink) ({ (void)(devlink); (void)(nested_devlink); 0; })
#endif

#endif
