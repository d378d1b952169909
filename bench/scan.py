"""Scan speed: leastcap vs. the parse-only floor and vs. compose-lint, measured in one run.

    python bench/scan.py [--projects 5000] [--keep DIR]

Generates a realistic tree of Compose projects (several services each, anchors, interpolation,
override files, privilege settings), then times, on the same files:
  * parse-only floor: PyYAML's C loader over every file (the floor for a Python tool);
  * leastcap: `leastcap scan ROOT --format json --no-scripts` (discovery, loading with Compose
    semantics, rules, suppression, reporting);
  * compose-lint: `compose-lint check --format json` over the same Compose files (PyPI peer);
  * start-up: `leastcap --version`.
Targets: leastcap within 2x of the floor, at least 5x faster than compose-lint, start-up < 150 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGES = ["nginx:1.27", "postgres:16", "redis:7", "grafana/grafana", "lscr.io/linuxserver/wireguard", "traefik:v3"]
EXTRAS = [
    "    privileged: true\n",
    "    cap_add: [NET_ADMIN]\n",
    "    cap_drop: [ALL]\n    security_opt: [no-new-privileges:true]\n",
    "    pid: host\n",
    "    network_mode: host\n",
    "    devices:\n      - /dev/net/tun:/dev/net/tun\n",
    "    privileged: ${PRIV:-false}\n",
    "",
    "",
]


def service(rng: random.Random, index: int) -> str:
    image = rng.choice(IMAGES)
    text = (
        f"  svc{index}:\n"
        f"    <<: *defaults\n"
        f"    image: {image}\n"
        f"    environment:\n      - TZ=${{TZ:-UTC}}\n      - APP_PORT={8000 + index}\n"
        f'    ports:\n      - "{8000 + index}:80"\n'
        f"    volumes:\n      - ./data/svc{index}:/data\n      - cache{index}:/cache\n"
        + ("      - /var/run/docker.sock:/var/run/docker.sock:ro\n" if rng.random() < 0.1 else "")
        + f'    healthcheck:\n      test: ["CMD", "wget", "-q", "http://localhost/"]\n      interval: 30s\n'
        f'    labels:\n      com.example.team: platform\n      com.example.tier: "{index % 3}"\n'
    )
    return text + rng.choice(EXTRAS)


def project(rng: random.Random) -> tuple[str, str | None]:
    count = rng.randint(3, 8)
    body = "x-defaults: &defaults\n  restart: unless-stopped\n  logging:\n    driver: json-file\n\nservices:\n"
    body += "".join(service(rng, i) for i in range(count))
    body += "volumes:\n" + "".join(f"  cache{i}: {{}}\n" for i in range(count))
    override = None
    if rng.random() < 0.3:
        override = "services:\n  svc0:\n    environment:\n      - DEBUG=1\n    cap_add: [SYS_PTRACE]\n"
    return body, override


def generate(root: Path, projects: int) -> list[Path]:
    rng = random.Random(42)
    files: list[Path] = []
    for i in range(projects):
        directory = root / f"team{i % 50}" / f"app{i}"
        directory.mkdir(parents=True)
        body, override = project(rng)
        (directory / "compose.yaml").write_text(body)
        files.append(directory / "compose.yaml")
        if override:
            (directory / "compose.override.yaml").write_text(override)
            files.append(directory / "compose.override.yaml")
    return files


def timed(label: str, func) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    func()
    elapsed = time.perf_counter() - start
    print(f"  {label:<34} {elapsed:8.2f} s", flush=True)
    return elapsed


def parse_floor(files: list[Path]) -> None:
    import yaml

    for path in files:
        with open(path, "rb") as fh:
            list(yaml.load_all(fh, Loader=yaml.CSafeLoader))


def leastcap_scan(root: Path) -> None:
    leastcap = shutil.which("leastcap") or "leastcap"
    proc = subprocess.run(
        [leastcap, "scan", str(root), "--format", "json", "--no-scripts"], capture_output=True, text=True, check=False
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"leastcap failed ({proc.returncode}): {proc.stderr[-2000:]}")


def compose_lint(files: list[Path]) -> None:
    tool = shutil.which("compose-lint")
    if tool is None:
        raise SystemExit("compose-lint is not installed (pip install compose-lint)")
    for start in range(0, len(files), 400):
        chunk = [str(f) for f in files[start : start + 400]]
        subprocess.run([tool, "check", "--format", "json", "--no-pager", *chunk], capture_output=True, check=False)


def startup() -> float:
    leastcap = shutil.which("leastcap") or "leastcap"
    # The real console script, not a version-manager shim in front of it.
    script = Path(sys.executable).parent / "leastcap"
    command = [str(script)] if script.exists() else [leastcap]
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        subprocess.run([*command, "--version"], capture_output=True, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=5000)
    parser.add_argument("--keep", type=Path, help="generate into this directory and keep it")
    parser.add_argument("--skip-compose-lint", action="store_true")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="leastcap-bench-"))
    root = base / "tree"
    if root.exists():
        shutil.rmtree(root)
    files = generate(root, args.projects)
    size = sum(f.stat().st_size for f in files)
    print(f"{args.projects} projects, {len(files)} Compose files, {size / 1e6:.1f} MB under {root}")
    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (timings grow with it)")
    floor = timed("parse-only floor (PyYAML CSafeLoader)", lambda: parse_floor(files))
    ours = timed("leastcap scan", lambda: leastcap_scan(root))
    print(f"  leastcap / floor: {ours / floor:.2f}x (target <= 2.0x)")
    if not args.skip_compose_lint:
        peer = timed("compose-lint check", lambda: compose_lint(files))
        print(f"  compose-lint / leastcap: {peer / ours:.2f}x faster (target >= 5x)")
    boot = startup()
    print(f"  leastcap --version: {boot * 1000:.0f} ms (target < 150 ms); python -c pass for reference:", end=" ")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(f"{(time.perf_counter() - start) * 1000:.0f} ms")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    main()
