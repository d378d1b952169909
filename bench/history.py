"""Benchmark `leastcap history` against the obvious baseline, in one run.

    python bench/history.py [--commits 20000] [--files 200] [--sample 12]

1. Builds (once; cached under the temp dir, keyed by the parameters) a synthetic repository with
   `git fast-import`: ``--files`` Compose projects (one per directory, some with an override file
   and a ``.env``), ``--commits`` commits of which about one in eight edits a Compose file (a new
   image tag, ``privileged`` switched on or off, a capability added or dropped) and the rest touch
   unrelated source files.
2. Times ``leastcap history <repo> --format json`` (a fresh process, start-up included).
3. Times the baseline a user would write: for every commit that touched a Compose file,
   ``git checkout`` it and run ``leastcap scan --format json`` on the work tree. That takes hours,
   so it is measured on ``--sample`` commits spread evenly over the history and extrapolated to all
   of them; the output says so, and from how many commits.

Targets (issue 5): at least 50x faster than the baseline and under 10 seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
CAPS = ("NET_ADMIN", "SYS_PTRACE", "SYS_ADMIN", "NET_RAW", "SYS_TIME")


def compose_text(project: int, version: int, privileged: bool, caps: tuple[str, ...]) -> str:
    lines = [
        "services:",
        "  app:",
        f"    image: registry.example.com/team{project % 17}/app{project}:{version}",
        "    ports:",
        f'      - "{8000 + project % 1000}:80"',
        "    environment:",
        "      LOG_LEVEL: ${LOG_LEVEL:-info}",
        f"      PROJECT: p{project}",
        "    volumes:",
        "      - ./data:/data",
    ]
    if privileged:
        lines.append("    privileged: true")
    if caps:
        lines.append("    cap_add:")
        lines.extend(f"      - {c}" for c in caps)
    lines += [
        "    depends_on: [db]",
        "  db:",
        f"    image: postgres:{14 + project % 3}",
        "    environment:",
        "      POSTGRES_PASSWORD: example",
        "    volumes:",
        "      - db:/var/lib/postgresql/data",
        "volumes:",
        "  db: {}",
        "",
    ]
    return "\n".join(lines)


@dataclass
class _Project:
    version: int = 1
    privileged: bool = False
    caps: list[str] = field(default_factory=list)


def build_repo(path: Path, commits: int, files: int, seed: int) -> None:
    rng = random.Random(seed)
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=GIT_ENV)
    proc = subprocess.Popen(["git", "-C", str(path), "fast-import", "--quiet"], stdin=subprocess.PIPE, env=GIT_ENV)
    assert proc.stdin is not None
    out = proc.stdin
    state = [_Project() for _ in range(files)]
    t0 = 1_600_000_000

    def emit_file(p: str, text: str) -> None:
        data = text.encode()
        out.write(f"M 100644 inline {p}\ndata {len(data)}\n".encode() + data + b"\n")

    for n in range(commits):
        when = t0 + n * 600
        msg = (f"change {n}" if n else "initial import").encode()
        out.write(f"commit refs/heads/main\ncommitter Bench <bench@example.com> {when} +0000\n".encode())
        out.write(f"data {len(msg)}\n".encode() + msg + b"\n")
        if n == 0:
            for i in range(files):
                emit_file(f"svc{i:03d}/compose.yaml", compose_text(i, 1, False, ()))
                if i % 10 == 0:
                    emit_file(f"svc{i:03d}/.env", "LOG_LEVEL=debug\n")
                if i % 20 == 0:
                    emit_file(f"svc{i:03d}/compose.override.yaml", "services:\n  app:\n    restart: always\n")
                emit_file(f"src/module{i:03d}.py", f"# module {i}\n")
        elif rng.random() < 0.125:
            i = rng.randrange(files)
            s = state[i]
            roll = rng.random()
            s.version += 1
            if roll < 0.3:
                s.privileged = not s.privileged
            elif roll < 0.5:
                cap = rng.choice(CAPS)
                if cap in s.caps:
                    s.caps.remove(cap)
                else:
                    s.caps.append(cap)
            emit_file(f"svc{i:03d}/compose.yaml", compose_text(i, s.version, s.privileged, tuple(s.caps)))
        else:
            i = rng.randrange(files)
            emit_file(f"src/module{i:03d}.py", f"# module {i}\nVERSION = {n}\n")
        out.write(b"\n")
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True, env=GIT_ENV)


def cached_repo(commits: int, files: int, seed: int) -> Path:
    key = hashlib.sha256(f"v1:{commits}:{files}:{seed}".encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"leastcap-bench-history-{key}"
    done = path / ".git" / "leastcap-bench-complete"
    if done.exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    t = time.perf_counter()
    build_repo(path, commits, files, seed)
    done.write_text("ok\n")
    print(f"built synthetic repository in {time.perf_counter() - t:.1f}s: {path}")
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def leastcap(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "leastcap", *args]
    return subprocess.run(cmd, capture_output=True, cwd=cwd, check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=20_000)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample", type=int, default=12, help="baseline commits actually measured")
    args = ap.parse_args()

    repo = cached_repo(args.commits, args.files, args.seed)

    t = time.perf_counter()
    cpu0 = _children_cpu()
    proc = leastcap("history", str(repo), "--format", "json")
    ours = time.perf_counter() - t
    ours_cpu = _children_cpu() - cpu0
    if proc.returncode not in (0, 1):
        print(proc.stderr.decode(), file=sys.stderr)
        raise SystemExit(f"leastcap history failed with exit code {proc.returncode}")
    report = json.loads(proc.stdout)
    summary, hist = report["summary"], report["history"]

    touching = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%H", "--", "*compose*.yml", "*compose*.yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    n = min(args.sample, len(touching))
    sample = [touching[i * len(touching) // n] for i in range(n)]
    work = Path(tempfile.mkdtemp(prefix="leastcap-bench-baseline-"))
    try:
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(repo), str(work)], check=True, env=GIT_ENV)
        t = time.perf_counter()
        for sha in sample:
            checkout = ["git", "-C", str(work), "checkout", "-q", "--force", sha]
            subprocess.run(checkout, check=True, env=GIT_ENV)
            scan = leastcap("scan", str(work), "--format", "json", cwd=work)
            if scan.returncode not in (0, 1):
                print(scan.stderr.decode(), file=sys.stderr)
                raise SystemExit(f"baseline `leastcap scan` failed with exit code {scan.returncode}")
        per_commit = (time.perf_counter() - t) / n
    finally:
        shutil.rmtree(work, ignore_errors=True)
    baseline = per_commit * len(touching)

    print(f"repository: {args.commits} commits, {args.files} Compose projects ({repo})")
    print(
        f"leastcap history: {ours:.2f}s wall, {ours_cpu:.2f}s CPU  ({hist['commits_walked']} commits walked, "
        f"{hist['commits_evaluated']} evaluated, {summary['findings']} timelines, "
        f"{hist['present_at_tip']} present at tip)"
    )
    print(
        f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(wall times grow with other work on the machine)"
    )
    print(
        f"baseline (checkout + leastcap scan per commit touching a Compose file): "
        f"{baseline:.0f}s EXTRAPOLATED from {n} measured commits "
        f"({per_commit:.3f}s each) to all {len(touching)} such commits"
    )
    ratio = baseline / ours
    print(
        f"speed-up: {ratio:.0f}x   (target >= 50x: {'PASS' if ratio >= 50 else 'FAIL'}; "
        f"target < 10s: {'PASS' if ours < 10 else 'FAIL'})"
    )
    return 0 if ratio >= 50 and ours < 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
