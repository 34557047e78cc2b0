// Before 6.2 struct class.devnode() takes a non-const struct device *.  Find the functions
// assigned to .devnode of a struct class and drop the const from their device parameter.
// Enabled when !HAVE_CLASS_DEVNODE_CONST_DEV.
@r@
identifier c, fn;
@@
(
 struct class c = { ..., .devnode = fn, ... };
|
 const struct class c = { ..., .devnode = fn, ... };
)

@depends on r@
identifier r.fn, dev;
identifier mode;
@@
 char * fn(
- const struct device *dev
+ struct device *dev
  , umode_t *mode)
 { ... }
