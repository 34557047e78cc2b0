// Our core enables an extended uverbs command when the driver has its op; the mask the
// target's drivers fill in is gone with nothing to replace it.
@@
expression E, M;
@@
(
- E->uverbs_ex_cmd_mask |= M;
|
- E.uverbs_ex_cmd_mask |= M;
|
- E->uverbs_ex_cmd_mask = M;
|
- E.uverbs_ex_cmd_mask = M;
)
