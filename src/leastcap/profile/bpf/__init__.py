"""The BPF recorder: capability checks counted in the kernel (see ``recorder``).

Modules: ``recorder`` (loads the programs, reads the maps out as events), ``programs`` (the
capability and open programs, the maps' layout, the shared emitting helpers), ``following`` (the
programs that follow forks, execs, renames and exits), ``calibration`` (the start-up measurement of
the kernel's stacks), ``asm`` (the eBPF assembler they are written in), ``btf`` (a kernel function's
BTF type id) and ``sys`` (the bpf(2) and perf_event_open(2) system calls).
"""
