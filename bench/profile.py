#!/usr/bin/env python3
"""Overhead of `leastcap profile` recording, measured against a baseline in the same run.

Two workloads run in a container via `docker exec`:

  syscalls   `dd bs=1` copying N*1000 bytes: 2 syscalls per byte, no capability checks
  forks      busybox sh forking `chown` N times: each a fork, mmaps/brk (SYS_ADMIN no-audit probes)
             and a CHOWN check, ~7 capability checks per iteration -- the worst case for the recorder

each run in every round, in a random order per round, in these modes:

  baseline   no tracing at all
  bpf        recording as `leastcap profile` does by default (--recorder auto) once its open window
             (--open-window, the first 30 s) has closed: checks counted in the kernel by the BPF
             recorder (one stack walk per check, none for the vm probe; a stack kept once per kind
             of check), process events from a private instance with the in-kernel pid filter, read
             raw, process-tree filtering
  bpf-opens  the same during the open window: the open syscalls' tracepoints are on as well, which
             puts every syscall of every task on the kernel's slow path
  ftrace     --recorder ftrace: cap_capable in the instance with a stacktrace trigger (a full stack
             walked and stored for every check), read from the binary ring buffer
  text       ftrace read from trace_pipe text (the kprobe fallback's reader) -- for comparison

It prints the median wall time of each, the slowdown ratios vs. the baseline (target: under 5% for
`bpf`, the default), the median CPU time of the container's cgroup (less noisy than wall time on a shared
2-core VM; it includes the kernel's tracing work done in the workload's context, not the
recorder's), the service's checks per second the recorder kept up with, and the events lost (per-CPU
`overrun` + `dropped events`). Lost events are always reported, never dropped silently; a final
run with a deliberately tiny buffer shows the detection working.

Usage: sudo python bench/profile.py [--iterations 2000] [--rounds 9] [--seed N] [--busy N]
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from leastcap.profile import docker as dk
from leastcap.profile.proctree import State
from leastcap.profile.recorder import Collector, Session


@dataclass
class Sample:
    seconds: float
    cpu: float = 0.0
    events: int = 0  # the service's capability checks (repeats counted)
    checks: int = 0  # records the recorder handed over (BPF: one per kind of check per task)
    lost: int = 0


def script_for(kind: str, iterations: int) -> str:
    if kind == "syscalls":
        return f"dd if=/dev/zero of=/dev/null bs=1 count={iterations * 1000} 2>/dev/null"
    return f"touch /tmp/x; i=0; while [ $i -lt {iterations} ]; do chown 1000 /tmp/x; i=$((i+1)); done"


@functools.cache
def cpu_usage_file(container: str) -> Path | None:
    """The container's cgroup CPU counter (v1 cpuacct or v2 cpu.stat), if this host has one."""
    container_id = subprocess.run(
        ["docker", "inspect", "-f", "{{.Id}}", container], capture_output=True, text=True, check=True
    ).stdout.strip()
    for path in (
        Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage"),
        Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat"),
        Path(f"/sys/fs/cgroup/docker/{container_id}/cpu.stat"),
    ):
        if path.exists():
            return path
    return None


def cpu_seconds(path: Path | None) -> float:
    if path is None:
        return 0.0
    text = path.read_text()
    if path.name == "cpu.stat":
        return int(text.split("usage_usec", 1)[1].split()[0]) / 1e6
    return int(text) / 1e9


def workload(container: str, iterations: int, kind: str = "forks") -> Sample:
    """Wall time, and the CPU time the container's cgroup used (this includes the kernel's tracing
    work done in the workload's own context -- events, stack walks -- but not the recorder's)."""
    script = script_for(kind, iterations)
    cpu = cpu_seconds(cpu_usage_file(container))
    start = time.perf_counter()
    subprocess.run(["docker", "exec", container, "sh", "-c", script], check=True, capture_output=True)
    return Sample(time.perf_counter() - start, cpu=cpu_seconds(cpu_usage_file(container)) - cpu)


def roots_of(container: str) -> dict[int, State]:
    pid = int(
        subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Pid}}", container], capture_output=True, text=True, check=True
        ).stdout
    )
    shim = dk.parent_pid(pid)
    assert shim is not None
    kids = dk.children_map()
    roots: dict[int, State] = {}
    todo = [shim]
    while todo:
        p = todo.pop()
        for task in dk.process_tasks(p):
            roots[task] = State.SETUP if p == shim else State.SERVICE
        todo.extend(kids.get(p, []))
    return roots


def recorded(
    container: str,
    iterations: int,
    kernel_filter: bool,
    buffer_kb: int = 8192,
    kind: str = "forks",
    recorder: str = "auto",
    raw: bool = True,
    open_window: float | None = None,
) -> Sample:
    roots = roots_of(container)
    collector = Collector(deferred=True)
    collector.set_roots(roots, running=True)
    pids = list(roots) if kernel_filter else None
    with Session(
        collector, "tracepoint", pids, recorder=recorder, buffer_kb=buffer_kb, raw=raw, open_window=open_window
    ) as session:
        try:
            session.start()
            sample = workload(container, iterations, kind)
        finally:
            session.stop()
    checks = sum(c.count for c in collector.checks)
    return Sample(sample.seconds, sample.cpu, checks, len(collector.checks), session.lost)


def run_mode(mode: str, container: str, iterations: int, kind: str) -> Sample:
    if mode == "baseline":
        return workload(container, iterations, kind)
    if mode in ("bpf", "bpf-opens"):
        window = None if mode == "bpf-opens" else 0
        return recorded(container, iterations, kernel_filter=True, kind=kind, recorder="bpf", open_window=window)
    return recorded(container, iterations, kernel_filter=True, kind=kind, recorder="ftrace", raw=mode != "text")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seed", type=int, default=None, help="seed of the per-round mode order")
    parser.add_argument(
        "--busy", type=int, default=0, help="CPU-bound host processes running throughout (a loaded host)"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)

    from support.images import busybox_image

    image = busybox_image()
    name = f"leastcap-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, image, "sleep", "3600"], check=True, capture_output=True)
    burners = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(args.busy)]
    try:
        workload(name, 50)  # warm-up
        total_lost = 0
        for kind in ("syscalls", "forks"):
            samples: dict[str, list[Sample]] = {"baseline": [], "bpf": [], "bpf-opens": [], "ftrace": [], "text": []}
            for _ in range(args.rounds):
                # A fresh random order each round: a fixed order showed a position effect (the run
                # right after another mode's instance was torn down was often slower).
                for mode in rng.sample(list(samples), len(samples)):
                    samples[mode].append(run_mode(mode, name, args.iterations, kind))
            base = statistics.median(s.seconds for s in samples["baseline"])
            base_cpu = statistics.median(s.cpu for s in samples["baseline"]) or 1.0
            busy = f", {args.busy} busy host process(es)" if args.busy else ""
            print(f"\n{kind}: {script_for(kind, args.iterations)!r}, {args.rounds} rounds (median){busy}")
            print(
                f"{'mode':<11} {'seconds':>8} {'ratio':>7} {'cpu s':>7} {'cpu ratio':>9}"
                f" {'checks/s':>9} {'records':>7} {'lost':>6}"
            )
            for mode, runs in samples.items():
                med = statistics.median(s.seconds for s in runs)
                events = sum(s.events for s in runs) / sum(s.seconds for s in runs)
                lost = sum(s.lost for s in runs)
                total_lost += lost
                checks = statistics.median(s.checks for s in runs)
                cpu = statistics.median(s.cpu for s in runs)
                print(
                    f"{mode:<11} {med:8.3f} {med / base:7.3f} {cpu:7.3f} {cpu / base_cpu:9.3f}"
                    f" {events:9.0f} {checks:7.0f} {lost:6d}"
                )
            for mode in ("bpf", "bpf-opens", "ftrace"):
                slowdown = statistics.median(s.seconds for s in samples[mode]) / base - 1
                cpu_cost = statistics.median(s.cpu for s in samples[mode]) / base_cpu - 1
                target = {"bpf": " (target < 5%)", "bpf-opens": " (the first --open-window seconds)"}.get(mode, "")
                print(
                    f"slowdown with recording ({mode}): {slowdown:+.1%} wall{target},"
                    f" {cpu_cost:+.1%} container CPU"
                )
        if total_lost:
            print(f"WARNING: tracefs lost {total_lost} events in the runs above (buffer overruns)")
        tiny = recorded(name, args.iterations, kernel_filter=False, buffer_kb=16, recorder="ftrace")
        print(
            f"overrun detection with a 16 KiB per-CPU buffer, ftrace, unfiltered: lost {tiny.lost} events"
            f" ({'detected and reported' if tiny.lost else 'none lost'})"
        )
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
