// Compare the device limits as int, as the ULP was written to (they are small positive
// numbers, so the value is the same; only the type check of min()/max() changes).
@@
expression A, E;
identifier f = {max_qp, max_qp_wr, max_send_sge, max_recv_sge, max_sge_rd, max_cq, max_cqe,
                max_mr, max_pd, max_qp_rd_atom, max_ee_rd_atom, max_res_rd_atom,
                max_qp_init_rd_atom, max_ee_init_rd_atom, max_ee, max_rdd, max_mw,
                max_raw_ipv6_qp, max_raw_ethy_qp, max_mcast_grp, max_mcast_qp_attach,
                max_total_mcast_qp_attach, max_ah, max_srq, max_srq_wr, max_srq_sge};
@@
(
- min(A.f, E)
+ min_t(int, A.f, E)
|
- min(E, A.f)
+ min_t(int, E, A.f)
|
- min(A->f, E)
+ min_t(int, A->f, E)
|
- min(E, A->f)
+ min_t(int, E, A->f)
|
- max(A.f, E)
+ max_t(int, A.f, E)
|
- max(E, A.f)
+ max_t(int, E, A.f)
|
- max(A->f, E)
+ max_t(int, A->f, E)
|
- max(E, A->f)
+ max_t(int, E, A->f)
)
