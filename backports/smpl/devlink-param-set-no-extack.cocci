// devlink_param.set() takes no netlink_ext_ack before 6.7: a set callback written for the
// newer devlink (mlx5's params in devlink.c, fs_core.c, fw_reset.c, ...) loses the argument
// and keeps a NULL one of the same name (maybe unused), which NL_SET_ERR_MSG*() accept. A callback is known
// by its signature: (struct devlink *, u32, struct devlink_param_gset_ctx *, extack).
// Enabled when !HAVE_DEVLINK_PARAM_SET_EXTACK.
@@
identifier f, d, id, ctx, e;
attribute name __maybe_unused;
@@
 int f(struct devlink *d, u32 id, struct devlink_param_gset_ctx *ctx
-	, struct netlink_ext_ack *e
 )
 {
+	struct netlink_ext_ack *e __maybe_unused = NULL;
 ...
 }
