"""Real programs from Debian packages, measured again: each must need exactly its stored capability set.

The images are built once per run (debootstrap --variant=minbase + docker import, two at a time,
one package cache) and reused while their recipe label matches (leastcap.measure.debian). Each test
runs the harness (bench/measure_images.py's code): ``leastcap profile --verify --minimize`` with a
probe inside the container, and compares the minimised set with the set checked by hand and with
the stored knowledge entry (knowledge/measured/<program>.yaml).

How each set was checked by hand: ``bench/measure_images.py --exact-removals PROGRAM`` verified the
set without each capability in turn; the comment beside each set says what broke without which
capability (the verification verdict, then what the program's log said).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leastcap.knowledge.measured import MEASURED_DIR, load_measured_file
from leastcap.measure.debian import BuiltImage, Recipe, build_all, debian_mirror
from leastcap.measure.harness import measure
from leastcap.measure.programs import BY_NAME, PROGRAMS
from support.components import require, require_compose, require_docker, require_tracefs

pytestmark = [pytest.mark.docker, pytest.mark.compose, pytest.mark.tracefs, pytest.mark.slow]

CACHE_DIR = Path("/var/cache/leastcap-measure")

EXPECTED: dict[str, tuple[str, ...]] = {
    # without CHOWN: nginx exits 1 (chown of /var/lib/nginx/body to www-data: Operation not permitted);
    # without DAC_OVERRIDE: exits 1 (the root master cannot open /var/lib/nginx/*, owned by www-data 0700);
    # without SETGID / SETUID: the workers cannot switch to www-data, the probe times out (124).
    "nginx": ("CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"),
}


@pytest.fixture(scope="session")
def images() -> dict[str, BuiltImage]:
    require_docker()
    require_compose()
    require_tracefs()
    require(shutil.which("debootstrap") is not None, "debootstrap (scripts/setup-components installs it)")
    mirror = debian_mirror()
    built = build_all([Recipe(p.tag, p.packages, mirror=mirror) for p in PROGRAMS], CACHE_DIR, jobs=2)
    return {p.name: image for p, image in zip(PROGRAMS, built, strict=True)}


def test_every_measured_program_is_pinned_here() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in PROGRAMS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_program_needs_exactly_its_measured_set(name: str, images: dict[str, BuiltImage]) -> None:
    program = BY_NAME[name]
    stored = load_measured_file(MEASURED_DIR / f"{name}.yaml")
    result = measure(program, images[name], rule=stored.rule).entry["result"]
    assert tuple(result["cap_add"]) == EXPECTED[name] == stored.cap_add
    assert (tuple(result["devices"]), tuple(sorted(result["sysctls"].items()))) == (stored.devices, stored.sysctls)
    assert result["no_new_privileges"] == stored.no_new_privileges
    # Each kept capability was shown to be needed: a run without it (and with every other) failed.
    assert [r["capability"] for r in result["removals"]] == list(EXPECTED[name])
