// ib_umem_get(dev, addr, size, access) is ib_umem_get_va() in our core, same arguments.
@@
expression D, A, S, F;
@@
- ib_umem_get(D, A, S, F)
+ ib_umem_get_va(D, A, S, F)
