// struct ib_umem's sg_head/nmap became the sg_append_table sgt_append (5.15): sg_head is its
// sgt, nmap its DMA-mapped count (sgt.nents), as ib_umem_get fills them in our core. In the
// files this runs over, only struct ib_umem has fields of these names.
@@
expression U;
@@
- U->sg_head
+ U->sgt_append.sgt

@@
expression U;
@@
- U->nmap
+ U->sgt_append.sgt.nents
