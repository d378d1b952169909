"""The BPF recorder: capability checks counted in the kernel (see ``recorder``)."""
