// struct net_device has no devlink_port before 6.2 (SET_NETDEV_DEVLINK_PORT): X's mlx5
// Ethernet code that reads its netdev's port (trap reports, the RX/TX health reporters) reads
// the one mlx5e_priv keeps instead (mlx5e_netdev_dl_port(), patches/.../mlx5/core/en.h.patch).
// Enabled when !HAVE_SET_NETDEV_DEVLINK_PORT.
// (Matched by the ->netdev member that holds the netdev: spatch sees no header types here.)
@@
expression E;
@@
- E->netdev->devlink_port
+ mlx5e_netdev_dl_port(E->netdev)
