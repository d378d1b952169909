#!/usr/bin/env python3
"""Time to answer of `leastcap profile --verify --minimize`: the new strategy against the old one,
measured in the same run on the same workload.

  old (linear)  after removing the never-granted capabilities in one run, one verification run per
                remaining capability, each for the full --duration (`--minimize-strategy linear`,
                a hidden option kept for this comparison)
  new (groups)  the same first run, then groups removed at once (split on failure, guided by which
                capabilities the failed run saw denied; independent tries side by side, two at a
                time, as the project is isolated), and every verification run ends as soon as the
                probe passed after the recording's warm-up (or failed three rounds in a row after
                twice the warm-up)

The workload is a web server with no network path from the host (`network_mode: none`, so the probe
is `--probe-exec`): su drops to uid 1000 (SETUID, SETGID), it serves a file that only chown makes
readable to it (CHOWN), and it tries mknod, which it does without (MKNOD: exercised, not needed).
Both strategies must reach the same answer, [CHOWN, SETGID, SETUID] with MKNOD exercised; the bench
fails (exit 1) otherwise. Each round runs both, in a random order; it prints each one's verification
runs and wall time (of the whole command, and of --minimize alone as the profile reports it) and the
ratio new/old per round and its median. Target (issue 13): at most 0.5.

Usage: sudo python bench/minimize.py [--rounds 3] [--duration 12s] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.images import busybox_image  # noqa: E402

SERVICE = (
    "mkdir -p /www && echo ok > /www/index.html && chmod 600 /www/index.html"
    " && chown 1000 /www/index.html; mknod /tmp/null c 1 3;"
    ' exec su -s /bin/sh app -c "exec httpd -f -p 8080 -h /www"'
)
PROBE = "wget -q -O- http://127.0.0.1:8080/"
ANSWER = (["CHOWN", "SETGID", "SETUID"], ["MKNOD"])


def profile(compose: Path, duration: str, strategy: str) -> tuple[float, dict[str, Any]]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    args = [sys.executable, "-m", "leastcap", "profile", "app", "-f", str(compose), "--json"]
    args += ["--duration", duration, "--verify", "--minimize", "--probe-exec", PROBE]
    args += ["--minimize-strategy", strategy]
    began = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    took = time.monotonic() - began
    if proc.returncode != 0:
        sys.exit(f"{strategy}: leastcap profile exited {proc.returncode}:\n{proc.stderr}")
    data: dict[str, Any] = json.loads(proc.stdout)
    return took, data


def answer(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    return data["cap_add"], [x["capability"] for x in data["exercised"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", default="12s", help="as --duration (the issue's real programs: 12s)")
    parser.add_argument("--seed", type=int, default=None)
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    image = busybox_image()
    ratios: list[float] = []
    minimize_ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="leastcap-bench-minimize-") as tmp:
        compose = Path(tmp) / "compose.yaml"
        compose.write_text(
            f"services:\n  app:\n    image: {image}\n    network_mode: none\n    command: [sh, -c, '{SERVICE}']\n"
        )
        for n in range(1, opts.rounds + 1):
            order = ["linear", "groups"]
            rng.shuffle(order)
            took: dict[str, float] = {}
            minimized: dict[str, float] = {}
            for strategy in order:
                took[strategy], data = profile(compose, opts.duration, strategy)
                if answer(data) != ANSWER:
                    print(f"{strategy}: answer {answer(data)} is not {ANSWER}", file=sys.stderr)
                    return 1
                minimized[strategy] = float(data["minimize_seconds"])
                runs = len(data["verification"])
                per_run = ", ".join(f"{v['seconds']:g}" for v in data["verification"])
                print(
                    f"round {n} {strategy:<7} {took[strategy]:6.1f}s in all, --minimize"
                    f" {minimized[strategy]:6.1f}s; {runs} verification runs ({per_run} s);"
                    f" warm-up {data['recording']['warmup_seconds']}s"
                )
            ratios.append(took["groups"] / took["linear"])
            minimize_ratios.append(minimized["groups"] / minimized["linear"])
            print(f"round {n} new/old: {ratios[-1]:.2f} in all, {minimize_ratios[-1]:.2f} for --minimize")
    print(
        f"median new/old wall time: {statistics.median(ratios):.2f} in all (the recording included),"
        f" {statistics.median(minimize_ratios):.2f} for --minimize; same answer {ANSWER[0]} (exercised:"
        f" {ANSWER[1]}) each time; target <= 0.50"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
