"""Images of real programs built from Debian packages (no image registry is reachable here).

``debootstrap --variant=minbase --include=PKGS SUITE ROOT MIRROR`` into a ``mktemp -d`` directory,
then ``docker import``. An image carries labels with its recipe (suite, mirror, packages) and the
installed packages' versions; a later build with the same recipe reuses it instead of building
again. Several builds share one ``--cache-dir`` of downloaded packages.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
RECIPE_LABEL = "org.leastcap.measure.recipe"
VERSIONS_LABEL = "org.leastcap.measure.versions"
# Raise when the way images are built changes, so images built the old way are rebuilt.
RECIPE_REVISION = 1
# Removed from the root before import: nothing a program runs reads them, and every container on
# the vfs storage driver copies the whole image (100+ MB less per run).
_SLIM = ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")
_APT_SOURCES = Path("/etc/apt/sources.list.d")

Log = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """debootstrap or docker import failed; the message has the tail of its output."""


@dataclass(frozen=True, slots=True)
class Recipe:
    """One image: the packages debootstrap installs on top of minbase, from which suite and mirror."""

    tag: str
    packages: tuple[str, ...]
    suite: str = DEFAULT_SUITE
    mirror: str = DEFAULT_MIRROR

    @property
    def key(self) -> str:
        recipe = {"revision": RECIPE_REVISION, "suite": self.suite, "mirror": self.mirror}
        text = json.dumps({**recipe, "packages": sorted(self.packages)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class BuiltImage:
    tag: str
    versions: dict[str, str]  # package -> version, for the recipe's packages
    reused: bool


def debian_mirror(suite: str = DEFAULT_SUITE, sources: Path = _APT_SOURCES) -> str:
    """The host's Debian mirror for ``suite`` (deb822 ``.sources`` files), else deb.debian.org."""
    if sources.is_dir():
        for path in sorted(sources.glob("*.sources")):
            for stanza in path.read_text(encoding="utf-8", errors="replace").split("\n\n"):
                fields = dict(
                    (m.group(1).lower(), m.group(2).strip())
                    for m in re.finditer(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, re.MULTILINE)
                )
                uris, suites = fields.get("uris", "").split(), fields.get("suites", "").split()
                if suite in suites and uris and uris[0].rstrip("/").endswith("/debian"):
                    return str(uris[0]).rstrip("/")
    return DEFAULT_MIRROR


def _docker_label(tag: str, label: str) -> str | None:
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', tag],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def existing(recipe: Recipe) -> BuiltImage | None:
    """The image already built from this recipe, if there is one."""
    if _docker_label(recipe.tag, RECIPE_LABEL) != recipe.key:
        return None
    versions = json.loads(_docker_label(recipe.tag, VERSIONS_LABEL) or "{}")
    return BuiltImage(recipe.tag, {str(k): str(v) for k, v in versions.items()}, reused=True)


def _installed_versions(root: Path, packages: Iterable[str]) -> dict[str, str]:
    proc = subprocess.run(
        ["dpkg-query", f"--admindir={root / 'var/lib/dpkg'}", "-W", "-f", "${Package}\t${Version}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    out = dict(line.split("\t", 1) for line in proc.stdout.splitlines() if "\t" in line)
    missing = [p for p in packages if not out.get(p)]
    if missing:
        raise ImageBuildError(f"not installed in the image: {', '.join(missing)}")
    return out


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _mounts_below(root: Path) -> list[Path]:
    """Mount points inside ``root`` (deepest first), from this process's mountinfo."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        # The mount point is the fifth field, with space, tab, newline and backslash octal-escaped.
        point = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
        if point.is_relative_to(root) and point != root:
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def remove_root(root: Path) -> None:
    """Remove a build root, never through a mount debootstrap left in it (its /proc, a bound /dev)."""
    for point in _mounts_below(root):
        subprocess.run(["umount", "--lazy", str(point)], capture_output=True, check=False)
    left = _mounts_below(root)
    if left:
        raise ImageBuildError(f"{root} still has mounts ({', '.join(map(str, left))}); not removed")
    shutil.rmtree(root, ignore_errors=True)


def build(recipe: Recipe, cache_dir: Path, log: Log = lambda _: None) -> BuiltImage:
    """Build ``recipe`` (or reuse the image built from it) and return its tag and versions."""
    found = existing(recipe)
    if found is not None:
        return found
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed (scripts/setup-components installs it)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="leastcap-measure-"))
    try:
        log(f"debootstrap {recipe.suite} with {','.join(recipe.packages)} for {recipe.tag}")
        proc = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--cache-dir={cache_dir}",
                f"--include={','.join(recipe.packages)}",
                recipe.suite,
                str(root),
                recipe.mirror,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ImageBuildError(f"debootstrap failed for {recipe.tag}:\n{_tail(proc.stdout + proc.stderr)}")
        versions = _installed_versions(root, recipe.packages)
        versions_label = json.dumps(json.dumps(versions, sort_keys=True, separators=(",", ":")))
        for rel in _SLIM:
            target = root / rel
            if target.is_dir() and not target.is_symlink():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        # mktemp -d made the root 0700: every non-root process of the image would fail to reach
        # any file (nginx workers, named as user bind, ...).
        os.chmod(root, 0o755)
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [
                "docker",
                "import",
                "--change",
                f"LABEL {RECIPE_LABEL}={recipe.key}",
                "--change",
                f"LABEL {VERSIONS_LABEL}={versions_label}",
                "-",
                recipe.tag,
            ],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise ImageBuildError(f"docker import failed for {recipe.tag}: {_tail(imported.stderr)}")
        return BuiltImage(recipe.tag, versions, reused=False)
    finally:
        remove_root(root)


def build_all(recipes: Sequence[Recipe], cache_dir: Path, jobs: int = 2, log: Log = lambda _: None) -> list[BuiltImage]:
    """Build several images, ``jobs`` at a time, sharing one package cache; in ``recipes`` order."""
    # Images already built are found first, so only the missing ones are built in parallel.
    found = {r.tag: existing(r) for r in recipes}
    todo = [r for r in recipes if found[r.tag] is None]
    built: dict[str, BuiltImage] = {}
    if todo:
        # One build first fills the cache with the base system every other build shares.
        built[todo[0].tag] = build(todo[0], cache_dir, log)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for image in pool.map(lambda r: build(r, cache_dir, log), todo[1:]):
                built[image.tag] = image
    return [found[r.tag] or built[r.tag] for r in recipes]
