"""Property tests: whatever the input, the loader returns a LoadResult (a project or clean errors),
never raises, and every position it reports lies inside the file it names."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leastcap.loader import LoadOptions, LoadResult, load_project
from leastcap.model import Located, Location

ROOT = "/proj"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# YAML's line breaks (PyYAML counts lines with these).
_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


class MemoryTree:
    """A Tree over a dict of absolute path -> bytes (the loader reads only through a Tree)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read_bytes(self, path: str) -> bytes:
        try:
            return self.files[path]
        except KeyError:
            raise OSError(f"cannot read {path}") from None

    def is_file(self, path: str) -> bool:
        return path in self.files

    def is_dir(self, path: str) -> bool:
        return any(p.startswith(path.rstrip("/") + "/") for p in self.files)

    def list_dir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted({p[len(prefix) :].split("/")[0] for p in self.files if p.startswith(prefix)})

    def display(self, path: str) -> str:
        return posixpath.relpath(path, ROOT)


def load(files: dict[str, bytes], env: dict[str, str] | None = None) -> LoadResult:
    tree = MemoryTree({posixpath.join(ROOT, name): data for name, data in files.items()})
    names = tuple(posixpath.join(ROOT, n) for n in files if n.endswith(".yaml"))
    options = LoadOptions(working_dir=ROOT, files=names, profiles=("*",), environ=env or {})
    return load_project(options, tree)


def _locations(result: LoadResult) -> list[Location]:
    out = [Location(p.path, p.line, p.column) for p in (*result.errors, *result.warnings) if p.line]
    if result.project is None:
        return out
    for service in result.project.services:
        out.append(service.key)
        for name in service.__slots__:
            value = getattr(service, name)
            values = value if isinstance(value, tuple) else (value,)
            for item in values:
                if isinstance(item, Located):
                    out += [item.origin, *item.via]
    return out


def assert_clean(result: LoadResult, files: dict[str, bytes]) -> None:
    assert isinstance(result, LoadResult)
    if result.project is None:
        assert result.errors, "no project and no error"
    else:
        assert result.errors == ()
    texts = {name: data.decode("utf-8", errors="replace").lstrip("\ufeff") for name, data in files.items()}
    for loc in _locations(result):
        if not loc.line:
            continue
        assert loc.path in texts, loc
        lines = _BREAKS.split(texts[loc.path])
        assert 1 <= loc.line <= len(lines), (loc, len(lines))
        assert 1 <= loc.column <= len(lines[loc.line - 1]) + 1, (loc, lines[loc.line - 1])


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    files = {"compose.yaml": data}
    assert_clean(load(files), files)


@SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    files = {"compose.yaml": text.encode("utf-8", errors="surrogatepass")}
    try:
        files["compose.yaml"].decode("utf-8")
    except UnicodeDecodeError:
        return
    assert_clean(load(files), files)


# ----------------------------------------------------------------------------- YAML-ish documents

_WORDS = ["true", "false", "yes", "no", "on", "off", "TRUE", "1", "0", '""', "' true'", "null", "~", "y"]
_STRINGS = [
    "host",
    "service:web",
    "NET_ADMIN",
    "ALL",
    "cap_sys_admin",
    "seccomp:unconfined",
    "/dev/sda:/dev/xvda:r",
    "/var/run/docker.sock:/var/run/docker.sock:ro",
    "./data:/data",
    "named:/x",
    "/dev",
    "'0'",
    "root",
    "${PRIV}",
    "${PRIV:-true}",
    "${CAP:?need cap}",
    "$$escaped",
    "${ bad}",
    "${A:-${B:-x}}",
    "$X",
]
_TAGS = ["", "", "", "!reset ", "!override ", "!custom "]
_SCALAR_FIELDS = [
    "privileged",
    "read_only",
    "pid",
    "ipc",
    "network_mode",
    "userns_mode",
    "uts",
    "cgroup",
    "user",
    "use_api_socket",
    "cgroup_parent",
    "extends",
]
_LIST_FIELDS = [
    "cap_add",
    "cap_drop",
    "security_opt",
    "devices",
    "volumes",
    "group_add",
    "sysctls",
    "device_cgroup_rules",
    "profiles",
    "depends_on",
]

scalar = st.one_of(st.sampled_from(_WORDS), st.sampled_from(_STRINGS))


@st.composite
def field_lines(draw: Any, anchors: list[str]) -> list[str]:
    tag = draw(st.sampled_from(_TAGS))
    if draw(st.booleans()):
        name = draw(st.sampled_from(_SCALAR_FIELDS))
        if anchors and draw(st.integers(0, 5)) == 0:
            return [f"    {name}: *{draw(st.sampled_from(anchors))}"]
        return [f"    {name}: {tag}{draw(scalar)}"]
    name = draw(st.sampled_from(_LIST_FIELDS))
    items = draw(st.lists(scalar, max_size=4))
    if draw(st.booleans()):
        return [f"    {name}: {tag}[{', '.join(items)}]"]
    return [f"    {name}: {tag}".rstrip()] + [f"      - {item}" for item in items]


@st.composite
def documents(draw: Any) -> str:
    lines: list[str] = []
    anchors: list[str] = []
    if draw(st.booleans()):
        lines += ["x-base: &base", f"  privileged: {draw(scalar)}", f"  cap_add: [{draw(scalar)}]"]
        anchors.append("base")
    if draw(st.booleans()):
        lines.append(f"x-val: &val {draw(st.sampled_from(_TAGS))}{draw(scalar)}")
        anchors.append("val")
    if draw(st.integers(0, 6)) == 0:
        lines.append("include: [other.yml]")
    lines.append("services:")
    for index in range(draw(st.integers(0, 3))):
        lines.append(f"  {draw(st.sampled_from(['web', 'db', 'x-svc', 'web']))}{index if draw(st.booleans()) else ''}:")
        if "base" in anchors and draw(st.booleans()):
            lines.append("    <<: *base")
        lines.append(f"    image: {draw(st.sampled_from(['x', '${IMAGE}', '']))}")
        for _ in range(draw(st.integers(0, 5))):
            lines += draw(field_lines(anchors))
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 4)) == 0:
        text += "---\nservices:\n  web:\n    privileged: !reset\n"
    return text


@SETTINGS
@given(
    documents(),
    st.one_of(st.none(), documents()),
    st.dictionaries(
        st.sampled_from(["PRIV", "CAP", "X", "IMAGE", "A", "B"]), st.sampled_from(["", "true", "1", "NET_RAW", "x"])
    ),
)
def test_generated_compose_documents(main: str, override: str | None, env: dict[str, str]) -> None:
    files = {"compose.yaml": main.encode()}
    if override is not None:
        files["override.yaml"] = override.encode()
    files["other.yml"] = b"services:\n  other:\n    image: x\n    privileged: true\n"
    result = load(files, env)
    assert_clean(result, files)
