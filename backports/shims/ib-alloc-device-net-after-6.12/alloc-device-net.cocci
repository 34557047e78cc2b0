// _ib_alloc_device() takes the device's network namespace; ib_alloc_device() passes
// &init_net, which is what a direct caller (rdmavt) got before.
@@
expression E;
@@
- _ib_alloc_device(E)
+ _ib_alloc_device(E, &init_net)
