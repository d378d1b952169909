"""Input resolution, as ``docker compose`` does it before reading any Compose file: the
environment (OS, ``.env`` and ``--env-file`` files, in compose's order), which files (``-f``,
``COMPOSE_FILE`` or the default names found upward), the project directory and the profiles."""

from __future__ import annotations

import os
import posixpath

from leastcap.loader.dotenv import DotenvError, parse_dotenv
from leastcap.loader.types import DEFAULT_FILES, DEFAULT_OVERRIDES, Inputs, LoadContext, LoadError, LoadOptions
from leastcap.tree import Tree, TreeError

MAX_PROJECT_ENV_CHARS = 64 * 1024 * 1024


def absolute_path(base: str, path: str, home: str | None = None) -> str:
    if path.startswith("~") and home:
        path = home + path[1:]
    return posixpath.normpath(posixpath.join(base, path))


def read_env_file(ctx: LoadContext, path: str, outer: dict[str, str]) -> dict[str, str]:
    display = ctx.tree.display(path)
    try:
        text = ctx.tree.read_bytes(path).decode("utf-8", errors="replace")
    except TreeError as exc:
        raise LoadError(f"couldn't read env file: {exc}", display) from None
    try:
        values = parse_dotenv(text, outer.get)
    except DotenvError as exc:
        raise LoadError(f"failed to read {display}: {exc}", display) from None
    # Each file is bounded alone (parse_dotenv); so is their sum over a project, where every
    # include may name env files of its own.
    ctx.env_chars += sum(len(k) + len(v) for k, v in values.items())
    if ctx.env_chars > MAX_PROJECT_ENV_CHARS:
        raise LoadError(
            f"the project's env files define more than {MAX_PROJECT_ENV_CHARS} characters of variables", display
        )
    return values


def merge_env(env: dict[str, str], values: dict[str, str]) -> None:
    for key, value in values.items():
        env.setdefault(key, value)


def _is_true(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "t", "yes")


def find_default_files(tree: Tree, start: str) -> list[str]:
    """WithDefaultConfigPath: the first main file and first override file, walking up."""
    directory = start
    while True:
        names = [n for n in DEFAULT_FILES if tree.is_file(posixpath.join(directory, n))]
        if names:
            files = [posixpath.join(directory, names[0])]
            overrides = [n for n in DEFAULT_OVERRIDES if tree.is_file(posixpath.join(directory, n))]
            if overrides:
                files.append(posixpath.join(directory, overrides[0]))
            return files
        parent = posixpath.dirname(directory)
        if parent == directory:
            return []
        directory = parent


def _compose_file_variable(tree: Tree, env: dict[str, str], cwd: str, home: str | None) -> list[str]:
    """The files ``COMPOSE_FILE`` names (split on ``COMPOSE_PATH_SEPARATOR``); each must exist."""
    files: list[str] = []
    separator = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
    for entry in env.get("COMPOSE_FILE", "").split(separator):
        if entry:
            path = absolute_path(cwd, entry, home)
            if not tree.is_file(path):
                raise LoadError(f"COMPOSE_FILE entry not found: {entry}", tree.display(path))
            files.append(path)
    return files


def resolve_inputs(options: LoadOptions, ctx: LoadContext) -> Inputs:
    tree = ctx.tree
    cwd = options.working_dir
    environ = dict(options.environ)
    environ.setdefault("PWD", cwd)  # docker compose sets PWD when the shell did not
    home = environ.get("HOME")
    start = absolute_path(cwd, options.project_directory, home) if options.project_directory else cwd
    env_files = [absolute_path(cwd, f, home) for f in options.env_files]
    if not env_files and environ.get("COMPOSE_ENV_FILES"):
        env_files = [absolute_path(cwd, f.strip(), home) for f in environ["COMPOSE_ENV_FILES"].split(",") if f.strip()]
    explicit_env = bool(env_files)
    if not env_files and not _is_true(environ.get("COMPOSE_DISABLE_ENV_FILE")):
        default = posixpath.join(start, ".env")
        if tree.is_file(default):
            env_files = [default]
    dotenv: dict[str, str] = {}
    for path in env_files:
        lookup = {**dotenv, **environ}
        dotenv.update(read_env_file(ctx, path, lookup))
    env = dict(environ)
    merge_env(env, dotenv)

    files = list(options.files) or _compose_file_variable(tree, env, cwd, home) or find_default_files(tree, start)
    if not files:
        raise LoadError("no configuration file provided: not found", tree.display(start))
    project_dir = start if options.project_directory else posixpath.dirname(files[0])
    if not explicit_env and project_dir != start and not _is_true(environ.get("COMPOSE_DISABLE_ENV_FILE")):
        later = posixpath.join(project_dir, ".env")
        if tree.is_file(later) and later not in env_files:
            merge_env(env, read_env_file(ctx, later, env))
            env_files.append(later)
    profiles = tuple(options.profiles)
    if not profiles and env.get("COMPOSE_PROFILES"):
        profiles = tuple(p.strip() for p in env["COMPOSE_PROFILES"].split(",") if p.strip())
    return Inputs(env, tuple(files), project_dir, profiles, tuple(env_files))
