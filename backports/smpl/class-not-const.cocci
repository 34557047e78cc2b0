// Drop const from struct class definitions (drivers/infiniband/core/uverbs_main.c:
// "static const struct class uverbs_class").  Before 6.4 class_register() takes a
// non-const struct class * and writes into it (p = subsys_private), so a const class
// only warns at build time but faults at run time (the object sits in .rodata).
// Enabled when !HAVE_CONST_STRUCT_CLASS.
@@
identifier c;
@@
- const struct class c
+ struct class c
  = { ... };
