// After 6.12 struct class.namespace() returns the namespace's struct ns_common
// (to_ns_common(net)).  Before, it returns the namespace tag itself, a const void * that
// for network namespaces is the struct net: change the return type and return the net.
// Enabled when !HAVE_CLASS_NAMESPACE_NS_COMMON; runs before class-namespace-not-const.
@r@
identifier c, fn;
@@
(
 struct class c = { ..., .namespace = fn, ... };
|
 const struct class c = { ..., .namespace = fn, ... };
)

@depends on r@
identifier r.fn;
expression E;
@@
- const struct ns_common *
+ const void *
  fn(...)
  {
  <...
- to_ns_common(E)
+ E
  ...>
  }
