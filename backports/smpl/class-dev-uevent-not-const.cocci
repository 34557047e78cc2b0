// Before 6.2 struct class.dev_uevent() takes a non-const struct device *.  Find the functions
// assigned to .dev_uevent of a struct class and drop the const from their device parameter.
// Enabled when !HAVE_CLASS_DEV_UEVENT_CONST_DEV.
@r@
identifier c, fn;
@@
(
 struct class c = { ..., .dev_uevent = fn, ... };
|
 const struct class c = { ..., .dev_uevent = fn, ... };
)

@depends on r@
identifier r.fn, dev;
identifier env;
@@
 int fn(
- const struct device *dev
+ struct device *dev
  , struct kobj_uevent_env *env)
 { ... }
