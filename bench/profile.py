#!/usr/bin/env python3
"""Overhead of `leastcap profile` recording, measured against a baseline in the same run.

Two workloads run in a container via `docker exec`:

  syscalls   `dd bs=1` copying N*1000 bytes: 2 syscalls per byte, no capability checks
  forks      busybox sh forking `chown` N times: each a fork, mmaps/brk (SYS_ADMIN no-audit probes)
             and a CHOWN check, ~7 capability checks per iteration -- the worst case for the recorder

each alternating between:

  baseline   no tracing at all
  filtered   recording as `leastcap profile` does (private instance, cap_capable + stack trigger,
             sched events, task_rename, in-kernel pid filter on the container's shim subtree,
             live parsing and process-tree filtering in Python)
  unfiltered the same without the in-kernel pid filter (every task on the machine is recorded and
             filtered in Python) -- the design alternative, for comparison

It prints the median wall time of each, the slowdown ratios vs. the baseline (target: under 5% for
`filtered`), the events per second the recorder consumed, and the events tracefs lost (per-CPU
`overrun` + `dropped events`). Lost events are always reported, never dropped silently; a final
run with a deliberately tiny buffer shows the detection working.

Usage: sudo python bench/profile.py [--iterations 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
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
from leastcap.profile.recorder import Collector
from leastcap.profile.tracefs import Instance, PipeReader


@dataclass
class Sample:
    seconds: float
    lines: int = 0
    checks: int = 0
    lost: int = 0


def script_for(kind: str, iterations: int) -> str:
    if kind == "syscalls":
        return f"dd if=/dev/zero of=/dev/null bs=1 count={iterations * 1000} 2>/dev/null"
    return f"touch /tmp/x; i=0; while [ $i -lt {iterations} ]; do chown 1000 /tmp/x; i=$((i+1)); done"


def workload(container: str, iterations: int, kind: str = "forks") -> float:
    script = script_for(kind, iterations)
    start = time.perf_counter()
    subprocess.run(["docker", "exec", container, "sh", "-c", script], check=True, capture_output=True)
    return time.perf_counter() - start


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
    container: str, iterations: int, kernel_filter: bool, buffer_kb: int = 8192, kind: str = "forks"
) -> Sample:
    roots = roots_of(container)
    collector = Collector()
    collector.set_roots(roots)
    with Instance(buffer_kb=buffer_kb) as instance:
        instance.enable_capability_events("tracepoint")
        if kernel_filter:
            instance.filter_pids(list(roots))
        reader = PipeReader(instance, collector.sink)
        try:
            instance.start()
            seconds = workload(container, iterations, kind)
        finally:
            instance.stop()
            reader.stop()
        lost = instance.stats().lost
    return Sample(seconds, collector.lines, len(collector.checks), lost)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from support.images import busybox_image

    image = busybox_image()
    name = f"leastcap-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, image, "sleep", "3600"], check=True, capture_output=True)
    try:
        workload(name, 50)  # warm-up
        total_lost = 0
        for kind in ("syscalls", "forks"):
            samples: dict[str, list[Sample]] = {"baseline": [], "filtered": [], "unfiltered": []}
            for _ in range(args.rounds):
                samples["baseline"].append(Sample(workload(name, args.iterations, kind)))
                samples["filtered"].append(recorded(name, args.iterations, kernel_filter=True, kind=kind))
                samples["unfiltered"].append(recorded(name, args.iterations, kernel_filter=False, kind=kind))
            base = statistics.median(s.seconds for s in samples["baseline"])
            print(f"\n{kind}: {script_for(kind, args.iterations)!r}, {args.rounds} rounds (median)")
            print(f"{'mode':<11} {'seconds':>8} {'ratio':>7} {'lines/s':>9} {'checks':>7} {'lost':>6}")
            for mode, runs in samples.items():
                med = statistics.median(s.seconds for s in runs)
                lines = sum(s.lines for s in runs) / sum(s.seconds for s in runs)
                lost = sum(s.lost for s in runs)
                total_lost += lost
                checks = statistics.median(s.checks for s in runs)
                print(f"{mode:<11} {med:8.3f} {med / base:7.3f} {lines:9.0f} {checks:7.0f} {lost:6d}")
            slowdown = statistics.median(s.seconds for s in samples["filtered"]) / base - 1
            print(f"slowdown with recording (filtered): {slowdown:+.1%} (target < 5%)")
        if total_lost:
            print(f"WARNING: tracefs lost {total_lost} events in the runs above (buffer overruns)")
        tiny = recorded(name, args.iterations, kernel_filter=False, buffer_kb=16)
        print(
            f"overrun detection with a 16 KiB per-CPU buffer, unfiltered: lost {tiny.lost} events"
            f" ({'detected and reported' if tiny.lost else 'none lost'})"
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
