"""Each list users rely on is kept once in the code; the schemas, the CLI choices and the docs are
held to it here, and the package has no import cycle (also through imports inside functions)."""

from __future__ import annotations

import ast
import dataclasses
import json
from importlib import resources
from pathlib import Path

import click

from leastcap.cli.app import cli
from leastcap.config import ScriptsSettings, parse_config
from leastcap.contract import SCRIPT_KINDS, ExitCode
from leastcap.diff.render import FORMATS as DIFF_FORMATS
from leastcap.fix.grants import FixConfidence
from leastcap.history.render import FORMATS as HISTORY_FORMATS
from leastcap.model import Confidence, EditAction, FixSafety, Severity
from leastcap.model.fix import FIX_KEYS
from leastcap.report import FORMATS, shows_fixes
from leastcap.scripts import KINDS
from leastcap.secreport import FORMATS as SECREPORT_FORMATS

SRC = Path(__file__).resolve().parents[1] / "src" / "leastcap"


def _schema(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(resources.files("leastcap").joinpath(f"schemas/{name}").read_text())
    return loaded


def test_report_schema_enums_are_the_code_lists() -> None:
    defs = _schema("report-v1.schema.json")["$defs"]
    assert isinstance(defs, dict)
    assert defs["severity"]["enum"] == [s.label for s in Severity]
    assert defs["confidence"]["enum"] == [c.label for c in Confidence]
    fix = defs["fix"]["properties"]
    assert fix["safety"]["enum"] == [s.label for s in FixSafety]
    assert fix["confidence"]["enum"] == [c.label for c in FixConfidence]
    edit = defs["edit"]["properties"]
    assert edit["action"]["enum"] == [a.value for a in EditAction]
    assert tuple(edit["key"]["enum"]) == FIX_KEYS
    exit_code = defs["summary"]["properties"]["exit_code"]["enum"]
    # A report's exit code is one of the judged ones (an interrupted run writes no report).
    assert exit_code == [int(c) for c in (ExitCode.OK, ExitCode.FINDINGS, ExitCode.ERROR)]


def test_config_schema_lists_are_the_code_lists() -> None:
    schema = _schema("leastcap-config.schema.json")
    assert schema["$defs"]["severity"]["enum"] == [s.label for s in Severity]  # type: ignore[index]
    assert list(schema["properties"]["scripts"]["properties"]) == list(SCRIPT_KINDS)  # type: ignore[index]
    assert KINDS == SCRIPT_KINDS
    assert tuple(f.name for f in dataclasses.fields(ScriptsSettings)) == SCRIPT_KINDS
    off = parse_config("scripts:\n  jenkins: false\n  gitlab: false\n", ".leastcap.yml")
    assert [k for k in SCRIPT_KINDS if off.scripts.on(k)] == ["shell", "makefile", "dockerfile", "systemd", "github"]


def _choices(command: str, option: str) -> list[str]:
    ctx = click.Context(cli)
    cmd = cli.get_command(ctx, command)
    assert cmd is not None
    (param,) = (p for p in cmd.params if p.name == option)
    assert isinstance(param.type, click.Choice)
    return list(param.type.choices)


def test_cli_choices_are_the_code_lists() -> None:
    for command in ("scan", "audit"):
        assert _choices(command, "fmt") == list(FORMATS)
        assert _choices(command, "fail_on") == [s.label for s in Severity]
    assert _choices("diff", "fmt") == list(DIFF_FORMATS)
    assert _choices("history", "fmt") == list(HISTORY_FORMATS)
    assert _choices("report", "fmt") == list(SECREPORT_FORMATS)
    assert _choices("diff", "fail_on") == [s.label for s in Severity]


def test_only_the_json_report_shows_fixes() -> None:
    # scan plans fixes only for a format that shows them (docs/json-v1.md, "Other formats").
    assert [fmt for fmt in FORMATS if shows_fixes(fmt)] == ["json"]


def _import_graph() -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):  # every import, inside functions too
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                target = resolve(name) if name.startswith("leastcap") else None
                if target is not None and target != module:
                    graph[module].add(target)
    return graph


def test_no_import_cycles() -> None:
    graph = _import_graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
