"""Write a small Compose project to a temp dir and load it with leastcap and with the real binary.

Every check asserts three things: compose's privilege view equals the literal expectation,
leastcap's equals it too (so both being wrong the same way still fails), and, for refusals,
both tools refuse.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from differential.oracle import (
    compose_args,
    fixed_env,
    leastcap_views,
    privilege_views,
    run_compose,
    run_leastcap,
)
from leastcap.loader import LoadResult

# The usual pair of -f files: a base and the override layered over it.
BASE_OVERRIDE = ("compose.yaml", "override.yaml")


def device(source: str, target: str, permissions: str = "rwm") -> dict[str, str]:
    """One ``devices`` entry as the privilege views show it."""
    return {"source": source, "target": target, "permissions": permissions}


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"))


def _subst(value: Any, root: str) -> Any:
    if isinstance(value, str):
        return value.replace("{dir}", root)
    if isinstance(value, list):
        return [_subst(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _subst(v, root) for k, v in value.items()}
    return value


def _extras(effective: Mapping[str, Any] | None, names: Sequence[str], enabled: set[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    services = (effective or {}).get("services") or {}
    for name, svc in sorted(services.items()):
        if enabled is not None and name not in enabled:
            continue
        out[name] = {k: svc[k] for k in names if svc.get(k) not in (None, [], {})}
    return out


def load_both(
    compose: str,
    root: Path,
    *,
    files: Sequence[str] = (),
    profiles: Sequence[str] | None = ("*",),
    project_directory: str | None = None,
    env_files: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: str = ".",
) -> tuple[Any, LoadResult]:
    environ = fixed_env(root, **(env or {}))
    where = root / cwd
    args = compose_args(files, profiles, project_directory, env_files)
    return run_compose(compose, args, where, environ), run_leastcap(
        where, environ, files, profiles, project_directory, env_files
    )


def check(
    compose: str,
    root: Path,
    expected: Mapping[str, Mapping[str, Any]],
    *,
    extra: Sequence[str] = (),
    extra_expected: Mapping[str, Mapping[str, Any]] | None = None,
    warning: str | None = None,
    **kwargs: Any,
) -> LoadResult:
    """Both tools load the project; the privilege views (and ``extra`` fields) equal ``expected``.

    With ``warning``, compose refuses the project (it would not start) while leastcap loads it and
    reports a warning containing that text.
    """
    theirs, ours = load_both(compose, root, **kwargs)
    want = _subst(dict(expected), str(root))
    assert ours.errors == (), f"leastcap refused: {ours.errors}"
    got = leastcap_views(ours)
    assert got == want, f"leastcap: {json.dumps(got, sort_keys=True)}\nwanted:   {json.dumps(want, sort_keys=True)}"
    if warning is None:
        assert theirs.ok, f"compose refused: {theirs.stderr}"
        seen = privilege_views(theirs.effective)
        assert seen == want, f"compose: {json.dumps(seen, sort_keys=True)}\nwanted:  {json.dumps(want, sort_keys=True)}"
    else:
        assert not theirs.ok, "compose was expected to refuse this project"
        messages = [w.message for w in ours.warnings]
        assert any(warning in m for m in messages), messages
    if extra:
        enabled = {s.name for s in ours.project.services if s.enabled} if ours.project else None
        want_extra = _subst(dict(extra_expected or {}), str(root))
        got_extra = _extras(ours.effective, extra, enabled)
        assert got_extra == want_extra, f"leastcap: {got_extra}"
        if warning is None:
            seen_extra = _extras(theirs.effective, extra, None)
            assert seen_extra == want_extra, f"compose: {seen_extra}"
    return ours


def check_error(compose: str, root: Path, compose_says: str, leastcap_says: str, **kwargs: Any) -> LoadResult:
    """Both tools refuse: compose exits non-zero with ``compose_says``, leastcap returns an error."""
    theirs, ours = load_both(compose, root, **kwargs)
    assert theirs.returncode != 0, "compose loaded a project it was expected to refuse"
    assert compose_says in theirs.stderr, theirs.stderr
    assert ours.project is None, f"leastcap loaded it: {leastcap_views(ours)}"
    assert len(ours.errors) == 1
    assert leastcap_says in ours.errors[0].message, ours.errors[0]
    return ours
