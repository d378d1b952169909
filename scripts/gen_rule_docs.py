#!/usr/bin/env python3
"""Write docs/rules.md from the rule docstrings. With --check, exit 1 when the file is stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from leastcap.rules.docs import render

TARGET = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail instead of writing when the file differs")
    args = parser.parse_args()
    text = render()
    current = TARGET.read_text("utf-8") if TARGET.exists() else ""
    if args.check:
        if current != text:
            print(f"{TARGET} is stale: run python scripts/gen_rule_docs.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        TARGET.write_text(text, "utf-8")
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
