// Before 7.x struct config_item_type points at non-const item and group operations.
// configfs never writes through them, so dropping the const from our tables changes
// nothing at run time and silences the discarded-qualifiers warning (cma_configfs.c).
// Enabled when !HAVE_CONFIGFS_CONST_OPS.
@@
identifier x;
@@
 static
- const
  struct configfs_item_operations x = { ... };

@@
identifier x;
@@
 static
- const
  struct configfs_group_operations x = { ... };
