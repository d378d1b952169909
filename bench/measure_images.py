"""Measure real programs built from Debian packages and write them as measured knowledge.

    sudo python bench/measure_images.py                 # every program of the catalogue
    sudo python bench/measure_images.py nginx bind9     # some
    sudo python bench/measure_images.py --write         # and (re)write src/leastcap/knowledge/measured/*.yaml

Images are built once (debootstrap --variant=minbase --include=PKGS bookworm + docker import, two at a
time, one shared package cache) and reused while their recipe label matches. Each program is profiled
with ``leastcap profile --verify --minimize`` and a probe inside its container; the table printed at
the end has the capability set, the service runs and the wall time per program.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from leastcap.knowledge.measured import MEASURED_DIR, validate_measured
from leastcap.measure.debian import Recipe, build_all, debian_mirror
from leastcap.measure.harness import MeasureError, dump_entry, measure
from leastcap.measure.programs import BY_NAME, PROGRAMS

DEFAULT_CACHE = Path("/var/cache/leastcap-measure")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("programs", nargs="*", help=f"default: all ({', '.join(BY_NAME)})")
    parser.add_argument("--jobs", type=int, default=2, help="image builds at a time")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="debootstrap's package cache")
    parser.add_argument("--write", action="store_true", help=f"write the entries to {MEASURED_DIR}")
    parser.add_argument("--exact-removals", action="store_true", help="verify the set minus each capability again")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    unknown = [p for p in args.programs if p not in BY_NAME]
    if unknown:
        parser.error(f"unknown program(s): {', '.join(unknown)}")
    chosen = [BY_NAME[p] for p in args.programs] if args.programs else list(PROGRAMS)

    def log(message: str) -> None:
        if args.verbose:
            print(message, file=sys.stderr, flush=True)

    mirror = debian_mirror()
    started = time.monotonic()
    images = build_all([Recipe(p.tag, p.packages, mirror=mirror) for p in chosen], args.cache_dir, args.jobs, log)
    print(f"images: {len(images)} ({sum(not i.reused for i in images)} built) in {time.monotonic() - started:.0f}s")
    failed = 0
    for program, image in zip(chosen, images, strict=True):
        try:
            result = measure(program, image, exact_removals=args.exact_removals, log=log)
        except MeasureError as exc:
            failed += 1
            print(f"{program.name:<16} FAILED: {exc}")
            continue
        entry = result.entry
        validate_measured(entry, program.name)
        caps = ",".join(entry["result"]["cap_add"]) or "(none)"
        print(f"{program.name:<16} {caps:<48} runs {result.runs:>3}  {result.seconds:6.0f}s  {entry['version']}")
        for removal in entry["result"]["removals"]:
            print(f"{'':<16}   without {removal['capability']}: {removal['failed']}")
        if args.write:
            (MEASURED_DIR / f"{program.name}.yaml").write_text(dump_entry(entry))
    print(f"total {time.monotonic() - started:.0f}s, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
