"""``leastcap fix`` and ``leastcap explain-image``.

Exit codes for fix: 0 every finding it acts on was fixed (or shown, in a dry run); 1 some finding
was left unfixed (the image truly needs privileged, or the edit could not be made safely); 2 an
input, the profile or the usage was wrong. explain-image always exits 0 for a well-formed
question, also when nothing is known about the image (it then says so and how to measure it).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

EXIT_OK, EXIT_UNFIXED, EXIT_ERROR = 0, 1, 2


def _load_user_images(config_path: str | None, cwd: str) -> tuple[list[Any], str]:
    """The ``images:`` entries of .leastcap.yml (searched upward from cwd, or --config)."""
    import yaml

    path = config_path
    if path is None:
        here = os.path.abspath(cwd)
        while True:
            candidate = os.path.join(here, ".leastcap.yml")
            if os.path.isfile(candidate):
                path = candidate
                break
            parent = os.path.dirname(here)
            if parent == here:
                return [], ""
            here = parent
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    images = data.get("images", []) if isinstance(data, dict) else []
    if not isinstance(images, list):
        raise click.UsageError(f"{path}: images: must be a list of image entries")
    return images, os.path.relpath(path, cwd)


def _knowledge(config_path: str | None, cwd: str) -> Any:
    from leastcap.knowledge.image_knowledge import KnowledgeError, load_knowledge

    try:
        entries, origin = _load_user_images(config_path, cwd)
        return load_knowledge(entries, origin or ".leastcap.yml")
    except (KnowledgeError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)


def _options_for(paths: tuple[str, ...], files: tuple[str, ...], cwd: str, **kw: Any) -> list[Any]:
    from leastcap.loader.api import LoadOptions

    if files:
        return [LoadOptions(working_dir=cwd, files=tuple(os.path.abspath(f) for f in files), **kw)]
    targets = paths or (cwd,)
    try:
        from leastcap.loader.api import discover_projects

        found, _problems = discover_projects([os.path.abspath(p) for p in targets])
        return [LoadOptions(**{**o.__dict__, **{k: v for k, v in kw.items() if v}}) for o in found]
    except ImportError:
        pass
    out = []
    for p in targets:
        ap = os.path.abspath(p)
        if os.path.isfile(ap):
            out.append(LoadOptions(working_dir=os.path.dirname(ap), files=(ap,), **kw))
        else:
            out.append(LoadOptions(working_dir=ap, **kw))
    return out


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
) -> None:
    """Replace privileged with the least privilege that still works (dry run unless --write)."""
    from leastcap.fix.apply import ChangedOnDiskError, fix_project, unified_diff, write_files
    from leastcap.profile.format import ProfileFormatError, read_profile

    cwd = os.getcwd()
    knowledge = _knowledge(config_path, cwd)
    profile = None
    wanted = set(services)
    if profile_file:
        try:
            profile = read_profile(profile_file)
        except (ProfileFormatError, OSError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        wanted.add(profile.service)
    kw: dict[str, Any] = {"env_files": tuple(os.path.abspath(e) for e in env_files), "profiles": profiles}
    kw["environ"] = dict(os.environ)
    if profile is not None and not paths and not files and profile.compose_files:
        # The profile names its Compose files and project: `fix --profile-file F --write` needs nothing else.
        from leastcap.loader.api import LoadOptions

        workdir = profile.working_dir or os.path.dirname(profile.compose_files[0])
        options = [LoadOptions(working_dir=workdir, files=tuple(profile.compose_files), **kw)]
    else:
        options = _options_for(paths, files, cwd, **kw)
    code = EXIT_OK
    diffs: list[str] = []
    for opts in options:
        result = fix_project(
            opts, knowledge, cwd=cwd, services=frozenset(wanted), profile=profile, all_rules=all_rules
        )
        if result.errors:
            code = EXIT_ERROR
            for err in result.errors:
                click.echo(f"error: {err}", err=True)
            continue
        diff = unified_diff(result, cwd)
        if diff and diff in diffs:
            # A main file shared by its default project and a variant layer (compose.yaml +
            # compose.prod.yml) gets the same edit from both: show and apply it once.
            continue
        diffs.append(diff)
        click.echo(diff, nl=False)
        _explain(result)
        if result.problems or result.unfixed:
            code = max(code, EXIT_UNFIXED)
        if write and result.edited:
            try:
                for path in write_files(result, backup=backup):
                    click.echo(f"wrote {os.path.relpath(path, cwd)}")
            except ChangedOnDiskError as exc:
                click.echo(f"error: {exc}", err=True)
                code = EXIT_ERROR
    if not any(diffs) and code == EXIT_OK:
        click.echo("nothing to fix")
    sys.exit(code)


def _explain(result: Any) -> None:
    for name, plan in result.plans.items():
        head = f"# {result.project}/{name}: {', '.join(plan.triggers)}"
        if plan.action == "keep":
            click.echo(f"{head}: kept privileged")
        elif plan.action == "fix":
            caps = ", ".join(g.capability for g in plan.cap_add) or "none"
            click.echo(f"{head}: cap_add {caps} (confidence: {plan.confidence.label})")
        else:
            click.echo(f"{head}: nothing to change")
        for message in plan.messages:
            click.echo(f"#   {message}")
    for problem in result.problems:
        click.echo(f"# not fixed: {problem}")


@click.command("explain-image")
@click.argument("image")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Path to .leastcap.yml.")
def explain_image(image: str, config_path: str | None) -> None:
    """What leastcap knows an image needs instead of privileged (exit 0 also when unknown)."""
    knowledge = _knowledge(config_path, os.getcwd())
    entry = knowledge.lookup(image)
    if entry is None:
        click.echo(
            f"Nothing is known about {image}.\n"
            "leastcap fix will keep Docker's default capabilities for it, each marked 'Docker default, "
            "not yet verified'.\nMeasure what it really needs with: leastcap profile <service> --verify "
            "--minimize\nor describe it under images: in .leastcap.yml."
        )
        sys.exit(EXIT_OK)
    click.echo(render_entry(entry))
    sys.exit(EXIT_OK)


def render_entry(entry: Any) -> str:
    lines = [f"{entry.title} [family: {entry.family}, {entry.origin}]"]
    lines.append(f"patterns: {', '.join(entry.patterns)}")
    if entry.privileged is not None:
        verdict = "REQUIRED" if entry.privileged.required else "not required"
        lines.append(f"privileged: {verdict}: {entry.privileged.reason}")
        if entry.privileged.advice:
            lines.append(f"  advice: {entry.privileged.advice}")
        lines.extend(f"  source: {s}" for s in entry.privileged.sources)
    for need in entry.needs:
        label = "default" if need.default else "optional"
        lines.append(f"- {need.feature} ({label}{', ' + need.confidence if need.confidence != 'documented' else ''})")
        for key in ("cap_add", "devices", "sysctls", "security_opt", "group_add", "volumes"):
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
    return "\n".join(lines)
