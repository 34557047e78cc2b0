// Before 6.4 struct class_attribute show()/store() take a non-const struct class * and
// struct class_attribute * (e.g. abi_version_show of CLASS_ATTR_RO in user_mad.c).
// The parameter pair identifies a class-attribute callback; drop both consts.
// Enabled when !HAVE_CLASS_ATTR_CONST_CLASS.
@@
identifier fn, cls, attr, buf;
@@
 ssize_t fn(
- const struct class *cls, const struct class_attribute *attr,
+ struct class *cls, struct class_attribute *attr,
  char *buf)
 { ... }

@@
identifier fn, cls, attr, buf, count;
@@
 ssize_t fn(
- const struct class *cls, const struct class_attribute *attr,
+ struct class *cls, struct class_attribute *attr,
  const char *buf, size_t count)
 { ... }
