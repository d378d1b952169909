"""Measured knowledge: what real programs needed when ``leastcap profile`` measured them here.

Documented entries (``knowledge/images``) say what a project's documentation or issue tracker
states; measured entries (``knowledge/measured``, one YAML file per program) say what the
program, built from its Debian package, needed under ``leastcap profile --verify --minimize`` with
a probe that proves it works. They are written by ``bench/measure_images.py`` and each is pinned by
a test that measures it again. This module validates and loads them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from leastcap.capabilities import try_normalize
from leastcap.knowledge.image_knowledge import schema_violation

MEASURED_DIR = Path(__file__).with_name("measured")
SCHEMA_PATH = Path(__file__).with_name("measured.schema.json")


class MeasuredError(ValueError):
    """A measured entry does not match the schema, or contradicts itself."""


@dataclass(frozen=True, slots=True)
class Removal:
    capability: str
    failed: str  # the verification verdict without it


@dataclass(frozen=True, slots=True)
class Evidence:
    capability: str
    decision: str
    processes: tuple[str, ...]
    frames: tuple[str, ...]
    syscalls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Measurement:
    program: str
    title: str
    family: str  # "" when no image family matches the program
    package: str
    version: str
    suite: str
    packages: tuple[str, ...]
    command: tuple[str, ...]
    note: str  # how the service was run, when it needs saying (e.g. a capability no recording shows)
    probe: str
    probe_where: str  # "container" or "host"
    proves: str
    cap_add: tuple[str, ...]
    devices: tuple[str, ...]
    sysctls: tuple[tuple[str, str], ...]
    no_new_privileges: bool
    rule: str  # "exercised" (strict) or "functional" (the probe decides)
    removals: tuple[Removal, ...]
    evidence: tuple[Evidence, ...]
    differs: tuple[str, ...]
    leastcap: str
    kernel: str
    date: str


def validate_measured(data: Any, where: str) -> None:
    """Raise MeasuredError unless ``data`` is a valid measured entry that agrees with itself."""
    violation = schema_violation(data, SCHEMA_PATH)
    if violation is not None:
        raise MeasuredError(f"{where}: invalid measured entry {violation}")
    result = data["result"]
    caps = list(result["cap_add"])
    named = [*caps, *(r["capability"] for r in result["removals"]), *(e["capability"] for e in data["evidence"])]
    for cap in named:
        if try_normalize(cap) in (None, "ALL") or cap.startswith("CAP_"):
            raise MeasuredError(f"{where}: {cap!r} is not a capability's short name")
    if caps != sorted(caps):
        raise MeasuredError(f"{where}: result.cap_add is not sorted")
    # The single-removal check covers exactly the kept set: every capability was shown to be needed.
    removed = [r["capability"] for r in result["removals"]]
    if sorted(removed) != caps:
        raise MeasuredError(f"{where}: result.removals {removed} must name each of cap_add {caps} once")
    if data["package"] not in data["packages"]:
        raise MeasuredError(f"{where}: package {data['package']!r} is not among packages")


def measurement_from_dict(data: Any, where: str) -> Measurement:
    validate_measured(data, where)
    result = data["result"]
    with_ = data["measured_with"]
    return Measurement(
        program=data["program"],
        title=data["title"],
        family=data.get("family", ""),
        package=data["package"],
        version=data["version"],
        suite=data["suite"],
        packages=tuple(data["packages"]),
        command=tuple(data["service"]["command"]),
        note=data["service"].get("note", ""),
        probe=data["probe"]["command"],
        probe_where=data["probe"]["where"],
        proves=data["probe"]["proves"],
        cap_add=tuple(result["cap_add"]),
        devices=tuple(result["devices"]),
        sysctls=tuple(sorted(result["sysctls"].items())),
        no_new_privileges=result.get("no_new_privileges", True),
        rule=result["rule"],
        removals=tuple(Removal(r["capability"], r["failed"]) for r in result["removals"]),
        evidence=tuple(
            Evidence(e["capability"], e["decision"], tuple(e["processes"]), tuple(e["frames"]), tuple(e["syscalls"]))
            for e in data["evidence"]
        ),
        differs=tuple(d["text"] for d in data.get("differs", ())),
        leastcap=with_["leastcap"],
        kernel=with_["kernel"],
        date=with_["date"],
    )


def load_measured_file(path: Path) -> Measurement:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    measurement = measurement_from_dict(data, f"knowledge/measured/{path.name}")
    if path.stem != measurement.program:
        raise MeasuredError(f"knowledge/measured/{path.name}: program is {measurement.program!r}, not {path.stem!r}")
    return measurement


@functools.cache
def builtin_measurements() -> tuple[Measurement, ...]:
    return tuple(load_measured_file(p) for p in sorted(MEASURED_DIR.glob("*.yaml")))


def measured_for_family(family: str) -> tuple[Measurement, ...]:
    """The measurements of the software of one image family (may be several programs)."""
    return tuple(m for m in builtin_measurements() if m.family == family)


def describe(m: Measurement) -> list[str]:
    """Lines for ``leastcap explain-image``: what the software needed when measured from Debian's build."""
    nnp = "no-new-privileges" if m.no_new_privileges else "WITHOUT no-new-privileges"
    lines = [
        f"measured ({m.date}, {m.leastcap}, kernel {m.kernel}; Debian's build, not this image):"
        f" {m.program} from {m.package} {m.version} ({m.suite})",
        f"    cap_add: {', '.join(m.cap_add) or 'none'} (with cap_drop ALL and {nnp}; {m.rule} rule)",
    ]
    if m.devices:
        lines.append(f"    devices: {', '.join(m.devices)}")
    if m.sysctls:
        lines.append(f"    sysctls: {', '.join(f'{k}={v}' for k, v in m.sysctls)}")
    lines.append(f"    probe: {m.proves}")
    lines.extend(f"    without {r.capability}: {r.failed}" for r in m.removals)
    if m.note:
        lines.append(f"    note: {m.note}")
    lines.extend(f"    differs: {text}" for text in m.differs)
    lines.append(f"    data: src/leastcap/knowledge/measured/{m.program}.yaml (bench/measure_images.py {m.program})")
    return lines
