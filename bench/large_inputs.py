"""Large inputs scale linearly: each size is timed beside half of it, in the same run.

    python bench/large_inputs.py [--lines 100000] [--services 20000]

Times, in this process, the whole load-and-judge of one project:
  * a `.env` file of N lines (and of N/2), each variable used by the Compose file's interpolation;
  * one Compose file with N services (and N/2), every one with a network, a volume, a warning
    (an image-less service) and an error (an undefined network), so the warning and the error
    paths run N times each;
  * a lattice of `include` diamonds, D levels deep (and D/2): 2**D include paths, 2*D files.
Prints each pair's ratio. Linear work doubles with the size (ratio about 2); quadratic work
quadruples (about 4). Targets: below 3 for the .env and the services (linear). The lattice merges
each level's services into every level above it, so its work grows with D**2 (ratio about 4);
the target is below 8, where loading every include path would be a ratio of 2**(D/2).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from leastcap.loader import LoadOptions, load_project
from leastcap.rules.registry import check_project
from leastcap.tree import DiskTree


def dotenv_project(root: Path, lines: int) -> None:
    root.mkdir(parents=True)
    (root / ".env").write_text("".join(f"VAR_{i}=value_{i} # comment\n" for i in range(lines)))
    (root / "compose.yaml").write_text("services:\n  web:\n    image: x\n    labels: ['a=${VAR_0}']\n")


def services_project(root: Path, count: int) -> None:
    root.mkdir(parents=True)
    body = "".join(
        f"  s{i}:\n    networks: [n{i % 3}, missing]\n    volumes: ['/srv/s{i}:/data']\n    cap_add: [NET_ADMIN]\n"
        for i in range(count)
    )
    (root / "compose.yaml").write_text(f"services:\n{body}networks: {{n0: {{}}, n1: {{}}, n2: {{}}}}\n")


def lattice_project(root: Path, depth: int) -> None:
    root.mkdir(parents=True)
    for level in range(depth + 1):
        for side in "ab":
            below = f"include: [a{level + 1}.yaml, b{level + 1}.yaml]\n" if level < depth else ""
            (root / f"{side}{level}.yaml").write_text(f"{below}services:\n  {side}{level}:\n    image: x\n")
    (root / "compose.yaml").write_text("include: [a0.yaml, b0.yaml]\nservices: {}\n")


def judge(root: Path) -> float:
    start = time.perf_counter()
    result = load_project(LoadOptions(working_dir=str(root), environ={}), DiskTree(str(root)), partial=True)
    assert result.project is not None, result.errors
    check_project(result.project)
    return time.perf_counter() - start


def pair(name: str, make: Callable[[Path, int], None], size: int, base: Path) -> float:
    half_root, full_root = base / f"{name}-half", base / f"{name}-full"
    make(half_root, size // 2)
    make(full_root, size)
    half = min(judge(half_root) for _ in range(2))
    full = min(judge(full_root) for _ in range(2))
    ratio = full / half
    print(f"{name:<28} {size // 2:>7}: {half:7.3f} s   {size:>7}: {full:7.3f} s   ratio {ratio:4.2f}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--services", type=int, default=20_000)
    parser.add_argument("--depth", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leastcap-bench-") as tmp:
        base = Path(tmp)
        linear = [
            pair(".env lines", dotenv_project, args.lines, base),
            pair("services in one file", services_project, args.services, base),
        ]
        lattice = pair("include lattice depth", lattice_project, args.depth, base)
    print(f"worst linear ratio {max(linear):.2f} (target < 3); include lattice ratio {lattice:.2f} (target < 8)")


if __name__ == "__main__":
    main()
