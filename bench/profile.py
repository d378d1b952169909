#!/usr/bin/env python3
"""Overhead of `leastcap profile` recording, measured against a baseline in the same run.

A syscall-heavy workload (busybox sh forking `chown` N times: forks, execs, mmaps and one CHOWN
check each) runs in a container via `docker exec`, alternating between:

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


def workload(container: str, iterations: int) -> float:
    script = f"touch /tmp/x; i=0; while [ $i -lt {iterations} ]; do chown 1000 /tmp/x; i=$((i+1)); done"
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


def recorded(container: str, iterations: int, kernel_filter: bool, buffer_kb: int = 8192) -> Sample:
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
            seconds = workload(container, iterations)
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
        samples: dict[str, list[Sample]] = {"baseline": [], "filtered": [], "unfiltered": []}
        for _ in range(args.rounds):
            samples["baseline"].append(Sample(workload(name, args.iterations)))
            samples["filtered"].append(recorded(name, args.iterations, kernel_filter=True))
            samples["unfiltered"].append(recorded(name, args.iterations, kernel_filter=False))
        base = statistics.median(s.seconds for s in samples["baseline"])
        print(f"workload: {args.iterations} x `chown` in busybox sh via docker exec, {args.rounds} rounds (median)")
        print(f"{'mode':<11} {'seconds':>8} {'ratio':>7} {'lines/s':>9} {'checks':>7} {'lost':>6}")
        total_lost = 0
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
