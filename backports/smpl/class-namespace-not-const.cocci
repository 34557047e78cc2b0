// Before 6.2 struct class.namespace() takes a non-const struct device *.  Find the functions
// assigned to .namespace of a struct class and drop the const from their device parameter.
// Enabled when !HAVE_CLASS_NAMESPACE_CONST_DEV.
@r@
identifier c, fn;
@@
(
 struct class c = { ..., .namespace = fn, ... };
|
 const struct class c = { ..., .namespace = fn, ... };
)

@depends on r@
identifier r.fn, dev;

@@
 const void * fn(
- const struct device *dev
+ struct device *dev
  )
 { ... }
