"""``leastcap fix`` and ``leastcap explain-image``.

Exit codes for fix: 0 every finding it acts on was fixed (or shown, in a dry run) or is suppressed;
1 some finding was left unfixed (the image or its devices truly need privileged, the answer was
below --min-confidence and only proposed, or the edit could not be made safely); 2 a path that does
not exist, a bad input, config, profile or usage, or a write that failed (then nothing is written).
explain-image always exits 0 for a well-formed question, also when nothing is known about the image
(it then says so and how to measure it).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from leastcap.contract import ExitCode

if TYPE_CHECKING:
    from leastcap.fix.apply import FixResult
    from leastcap.fix.write import Snapshot
    from leastcap.loader.api import LoadOptions
    from leastcap.profile.format import Profile

EXIT_OK, EXIT_UNFIXED, EXIT_ERROR = ExitCode.OK, ExitCode.FINDINGS, ExitCode.ERROR
# --min-confidence, least to most sure (leastcap.fix.grants.FixConfidence).
CONFIDENCE_CHOICES = ("unknown", "inferred", "known", "verified")


def _echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print text that may carry a hostile file's bytes (diff lines, names, values) with its control
    characters made visible, so it cannot drive the terminal."""
    from leastcap.report.common import defuse

    click.echo(defuse(text, keep_newlines=True), err=err, nl=nl)


def _say(text: str) -> None:
    """One line of fix's explanation: a newline from a service name or an image's file name is
    escaped too, so it cannot start a line that reads like part of the diff."""
    from leastcap.report.common import defuse

    click.echo(defuse(text))


def _knowledge(paths: tuple[str, ...], config_path: str | None, cwd: str) -> tuple[Any, Any]:
    """The .leastcap.yml scan uses (same search, same bounded and validated loader) and the image
    knowledge built from it plus its ``images:`` entries. Exits 2 on a bad config."""
    from leastcap.config import ConfigError, resolve_config
    from leastcap.knowledge.image_knowledge import KnowledgeError, config_knowledge

    try:
        config = resolve_config([os.path.join(cwd, p) for p in paths], config_path, cwd=cwd)
        return config, config_knowledge(config)
    except ConfigError as exc:
        for problem in exc.problems:
            where = f"{problem.path}:{problem.line}:{problem.column}" if problem.line else problem.path
            _echo(f"error: {where}: {problem.message}", err=True)
    except KnowledgeError as exc:
        _echo(f"error: {exc}", err=True)
    sys.exit(EXIT_ERROR)


def _options_for(paths: tuple[str, ...], files: tuple[str, ...], cwd: str, **kw: Any) -> list[Any]:
    """The projects to fix: ``-f`` files as one project, else the projects found under ``paths``.
    Exits 2 when a path does not exist (like scan)."""
    from leastcap.loader.api import LoadOptions, discover_projects

    if files:
        missing = [f for f in files if not os.path.isfile(os.path.join(cwd, f))]
        if missing:
            for f in missing:
                _echo(f"error: {f}: no such file", err=True)
            sys.exit(EXIT_ERROR)
        return [LoadOptions(working_dir=cwd, files=tuple(os.path.abspath(f) for f in files), **kw)]
    found, problems = discover_projects([os.path.abspath(p) for p in paths or (cwd,)])
    if problems:
        for problem in problems:
            _echo(f"error: {problem.path}: {problem.message}", err=True)
        sys.exit(EXIT_ERROR)
    return [LoadOptions(**{**o.__dict__, **{k: v for k, v in kw.items() if v}}) for o in found]


@click.command("fix")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-f", "--file", "files", multiple=True, help="Compose file (repeatable, order matters).")
@click.option("--env-file", "env_files", multiple=True, help="Environment file for interpolation.")
@click.option("--profile", "profiles", multiple=True, help="Compose profile to activate.")
@click.option("--service", "services", multiple=True, help="Only fix this service (repeatable).")
@click.option("--profile-file", type=click.Path(dir_okay=False), help="A leastcap profile JSON to apply.")
@click.option("--all", "all_rules", is_flag=True, help="Also fix missing-cap-drop and no-new-privileges.")
@click.option("--write", is_flag=True, help="Apply the changes (default: dry run, print a diff).")
@click.option("--backup", is_flag=True, help="With --write, keep the original as <file>.bak.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Path to .leastcap.yml.")
@click.option(
    "--min-confidence",
    type=click.Choice(CONFIDENCE_CHOICES),
    default="inferred",
    show_default=True,
    help="Write only answers at least this sure; the others are printed as proposals.",
)
@click.option(
    "--inspect/--no-inspect",
    default=True,
    show_default=True,
    help="Read the images' own files (exported, never run) when they are on the local engine.",
)
def fix(
    paths: tuple[str, ...],
    files: tuple[str, ...],
    env_files: tuple[str, ...],
    profiles: tuple[str, ...],
    services: tuple[str, ...],
    profile_file: str | None,
    all_rules: bool,
    write: bool,
    backup: bool,
    config_path: str | None,
    min_confidence: str,
    inspect: bool,
) -> None:
    """Replace privileged with the least privilege that still works (dry run unless --write)."""
    from leastcap.fix.apply import fix_project
    from leastcap.fix.grants import FixConfidence
    from leastcap.imagefacts.inspect import LocalImages

    cwd = os.getcwd()
    config, knowledge = _knowledge(paths or files, config_path, cwd)  # found like scan finds it
    profile = _read_profile(profile_file) if profile_file else None
    wanted = set(services) | ({profile.service} if profile is not None else set())
    image_facts = LocalImages() if inspect else None
    fixes = _Fixes()
    for opts in _fix_options(paths, files, cwd, profile, env_files, profiles):
        result = fix_project(
            opts, knowledge, cwd=cwd, services=frozenset(wanted), profile=profile, all_rules=all_rules,
            config=config, min_confidence=FixConfidence[min_confidence.upper()], image_facts=image_facts,
        )  # fmt: skip
        fixes.add(result, cwd)
    code = fixes.code
    if fixes.edits:
        code = max(code, _write_edits(fixes.edits, cwd, backup=backup) if write else _check_writable(fixes.edits))
    if not any(fixes.diffs) and code == EXIT_OK:
        _echo("nothing to fix")
    sys.exit(code)


def _read_profile(profile_file: str) -> Profile:
    """The --profile-file; exits 2 when it cannot be read or is not a leastcap profile."""
    from leastcap.profile.format import ProfileFormatError, read_profile

    try:
        return read_profile(profile_file)
    except (ProfileFormatError, OSError) as exc:
        _echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)


def _fix_options(
    paths: tuple[str, ...],
    files: tuple[str, ...],
    cwd: str,
    profile: Profile | None,
    env_files: tuple[str, ...],
    profiles: tuple[str, ...],
) -> list[LoadOptions]:
    """The projects to fix: those of the paths or -f files, else the one a profile names."""
    kw: dict[str, Any] = {"env_files": tuple(os.path.abspath(e) for e in env_files), "profiles": profiles}
    kw["environ"] = dict(os.environ)
    if profile is not None and not paths and not files and profile.compose_files:
        # The profile names its Compose files and project: `fix --profile-file F --write` needs nothing else.
        from leastcap.loader.api import LoadOptions

        workdir = profile.working_dir or os.path.dirname(profile.compose_files[0])
        return [LoadOptions(working_dir=workdir, files=tuple(profile.compose_files), **kw)]
    return _options_for(paths, files, cwd, **kw)


@dataclass
class _Fixes:
    """What the projects' fixes add up to: the diffs shown, the exit code so far, and every edited
    file of every project, to be written together at the end: all of them or none."""

    code: ExitCode = EXIT_OK
    diffs: list[str] = field(default_factory=list)
    edits: dict[str, tuple[Snapshot, bytes]] = field(default_factory=dict)

    def add(self, result: FixResult, cwd: str) -> None:
        """Shows one project's diff and explanation and takes its edited files."""
        from leastcap.fix.apply import unified_diff

        if result.errors:
            self.code = EXIT_ERROR
            for err in result.errors:
                _echo(f"error: {err}", err=True)
            return
        diff = unified_diff(result, cwd)
        if diff and diff in self.diffs:
            # A main file shared by its default project and a variant layer (compose.yaml +
            # compose.prod.yml) gets the same edit from both: show and apply it once.
            return
        self.diffs.append(diff)
        _echo(diff, nl=False)
        _explain(result)
        if result.problems or result.unfixed:
            self.code = max(self.code, EXIT_UNFIXED)
        for path, data in sorted(result.edited.items()):
            if path in self.edits and self.edits[path][1] != data:
                _say(
                    f"# not fixed: {self.edits[path][0].shown}: two projects edit it differently; "
                    "fix them one at a time (-f)"
                )
                self.code = max(self.code, EXIT_UNFIXED)
                continue
            self.edits[path] = (result.snapshots[path], data)


def _write_edits(edits: dict[str, tuple[Snapshot, bytes]], cwd: str, *, backup: bool) -> ExitCode:
    """--write: all the edited files or none (exit 2 then)."""
    from leastcap.fix.write import WriteError, write_all

    try:
        for path in write_all(list(edits.values()), backup=backup):
            _echo(f"wrote {os.path.relpath(path, cwd)}")
    except WriteError as exc:
        _echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    return EXIT_OK


def _check_writable(edits: dict[str, tuple[Snapshot, bytes]]) -> ExitCode:
    """A dry run says which edited files --write would refuse to write (exit 1 then)."""
    from leastcap.fix.write import why_not_writable

    code = EXIT_OK
    for snap, _ in edits.values():
        why = why_not_writable(snap)
        if why:
            _say(f"# cannot be written: {why}")
            code = EXIT_UNFIXED
    return code


def _explain(result: Any) -> None:
    for name, reason in result.suppressed.items():
        _say(f"# {result.project}/{name}: {reason}; not edited")
    for name, plan in result.plans.items():
        head = f"# {result.project}/{name}: {', '.join(plan.triggers)}"
        caps = ", ".join(g.capability for g in plan.cap_add) or "none"
        if plan.on_docker_defaults:
            caps += " on top of Docker's defaults"
        if plan.action == "keep":
            _say(f"{head}: kept privileged")
        elif plan.action == "fix":
            _say(f"{head}: cap_add {caps} (confidence: {plan.confidence.label}; fix: {plan.confidence.safety.label})")
        elif plan.action == "propose":
            _say(
                f"{head}: not written, only proposed: cap_add {caps} (confidence: {plan.confidence.label}; fix: "
                f"{plan.confidence.safety.label}, below --min-confidence {result.min_confidence.label})"
            )
            _say(f"#   next step: leastcap profile {name} --verify --minimize")
        else:
            _say(f"{head}: nothing to change")
        for message in plan.messages:
            _say(f"#   {message}")
    for problem in result.problems:
        _say(f"# not fixed: {problem}")


@click.command("explain-image")
@click.argument("image")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Path to .leastcap.yml.")
@click.option(
    "--inspect/--no-inspect",
    default=True,
    show_default=True,
    help="Read the image's own files (exported, never run) when it is on the local engine.",
)
@click.option("--pull", is_flag=True, help="Pull the image first, then read its files.")
def explain_image(image: str, config_path: str | None, inspect: bool, pull: bool) -> None:
    """What leastcap knows an image needs instead of privileged (exit 0 also when unknown)."""
    _config, knowledge = _knowledge((), config_path, os.getcwd())
    entry = knowledge.lookup(image)
    if entry is None:
        _echo(
            f"Nothing is known about {image}.\n"
            "leastcap fix will keep Docker's default capabilities for it, each marked 'Docker default, "
            "not yet verified'.\nMeasure what it really needs with: leastcap profile <service> --verify "
            "--minimize\nor describe it under images: in .leastcap.yml."
        )
    else:
        _echo(render_entry(entry))
    read = _explain_image_files(image, pull) if inspect or pull else True
    sys.exit(EXIT_OK if read else EXIT_ERROR)


def _explain_image_files(image: str, pull: bool) -> bool:
    """The image's own facts, when it is on the local engine. Without --pull an absent image or an
    unreachable engine is not worth a line: the knowledge above is the answer then. With --pull the
    user asked for the image: one that cannot be pulled or read is an error (False)."""
    from docker.errors import DockerException

    from leastcap.imagefacts.inspect import ImageNotFoundError, inspect_image
    from leastcap.imagefacts.render import render_facts

    try:
        facts = inspect_image(image, pull=pull)
    except ImageNotFoundError as exc:
        if pull:
            _echo(f"error: image facts: {exc}", err=True)
        return not pull
    except (DockerException, OSError) as exc:  # no engine, or it failed: requests' errors are OSErrors
        if pull:
            _echo(f"error: image facts: the image could not be pulled or read: {exc}", err=True)
        return not pull
    _echo(render_facts(facts))
    return True


def render_entry(entry: Any) -> str:
    lines = [f"{entry.title} [family: {entry.family}, {entry.origin}]"]
    lines.append(f"patterns: {', '.join(entry.patterns)}")
    if entry.exclude:
        lines.append(f"except: {', '.join(entry.exclude)}")
    if entry.privileged is None or not entry.privileged.required:
        for mode, non_root in (("its default user", False), ("a non-root user (user:)", True)):
            lines.append(f"run as {mode}: {_coverage_text(entry.coverage(non_root=non_root))}")
    if entry.privileged is not None:
        verdict = "REQUIRED" if entry.privileged.required else "not required"
        lines.append(f"privileged: {verdict}: {entry.privileged.reason}")
        if entry.privileged.advice:
            lines.append(f"  advice: {entry.privileged.advice}")
        lines.extend(f"  source: {s}" for s in entry.privileged.sources)
    for need in entry.needs:
        label = "default" if need.default else "optional"
        lines.append(f"- {need.feature} ({label}{', ' + need.confidence if need.confidence != 'documented' else ''})")
        for key in ("cap_add", "devices", "device_cgroup_rules", "sysctls", "security_opt", "group_add", "volumes"):
            values = getattr(need, key)
            if values:
                lines.append(f"    {key}: {', '.join(values)}")
        if need.unless_user:
            lines.append("    not needed when the service runs as a non-root user:")
        lines.append(f"    why: {need.reason}")
        lines.extend(f"    source: {s}" for s in need.sources)
    if entry.no_new_privileges is not None:
        ok = "compatible" if entry.no_new_privileges.compatible else "NOT compatible"
        lines.append(f"no-new-privileges: {ok}: {entry.no_new_privileges.reason}")
        lines.extend(f"  source: {s}" for s in entry.no_new_privileges.sources)
    for note in entry.notes:
        lines.append(f"note: {note.text}")
        lines.extend(f"  source: {s}" for s in note.sources)
    from leastcap.knowledge.measured import describe, measured_for_family

    for measurement in measured_for_family(entry.family):
        lines.extend(describe(measurement))
    return "\n".join(lines)


def _coverage_text(coverage: Any) -> str:
    """What the sources cover in one mode: the basis of "known" (complete) versus "inferred"."""
    from leastcap.knowledge.image_knowledge import NOT_COVERED

    if coverage == NOT_COVERED:
        return "not covered by the sources"
    if not coverage.complete:
        return f"partly known (inferred): {coverage.known}; not covered: {coverage.unknown}"
    if coverage.base == "docker-default":
        return "complete (known), on top of Docker's default capabilities"
    return "complete (known), with all other capabilities dropped"
