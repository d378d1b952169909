"""File names that are not UTF-8, and names, authors and messages that carry terminal escapes,
carriage returns or workflow commands: every output format stays valid and inert.

JSON, SARIF and Code Climate must decode as strict UTF-8 and parse; JUnit must be well-formed
XML; text, markdown and the github format must carry no control byte and no line that GitHub's
runner would read as a workflow command other than the github format's own annotations.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.dom.minidom
from pathlib import Path

import pytest
from hostilekit import run_cli

from support.components import require

PRIVILEGED = b"services:\n  web:\n    image: x\n    privileged: true\n"
NOT_UTF8 = b"bad\xff\xfename"
ESCAPES = b"esc\x1b[31mred\r::error::x"


def _tree(root: Path) -> None:
    for name in (NOT_UTF8, ESCAPES):
        directory = os.path.join(os.fsencode(root), name)
        os.makedirs(directory)
        with open(os.path.join(directory, b"compose.yaml"), "wb") as fh:
            fh.write(PRIVILEGED)


def _inert(text: str, *, annotations: bool = False) -> None:
    assert "\x1b" not in text and "\r" not in text, text
    for line in text.splitlines():
        if annotations and line.startswith(("::error file=", "::warning file=", "::notice file=")):
            continue
        assert not line.lstrip().startswith(("::", "##[")), line


@pytest.mark.parametrize("fmt", ["json", "sarif", "codeclimate", "junit", "github", "text"])
def test_every_scan_format_stays_valid_with_hostile_names(tmp_path: Path, fmt: str) -> None:
    _tree(tmp_path)
    proc = run_cli(tmp_path, "scan", ".", "--no-scripts", "--format", fmt)
    assert proc.returncode == 1, proc.stderr
    text = proc.stdout.decode("utf-8")  # strict: a raw 0xff byte fails here
    if fmt == "json":
        paths = sorted({f["location"]["path"] for f in json.loads(text)["findings"]})
        # JSON escapes controls itself (\u001b); only the bytes that are not UTF-8 become text.
        assert paths == ["bad\\xff\\xfename/compose.yaml", "esc\x1b[31mred\r::error::x/compose.yaml"]
    elif fmt == "sarif":
        results = json.loads(text)["runs"][0]["results"]
        uris = sorted({r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results})
        assert uris == ["bad%FF%FEname/compose.yaml", "esc%1B%5B31mred%0D%3A%3Aerror%3A%3Ax/compose.yaml"]
    elif fmt == "codeclimate":
        assert len(json.loads(text)) == 4
    elif fmt == "junit":
        xml.dom.minidom.parseString(proc.stdout)
    else:
        _inert(text, annotations=fmt == "github")


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_history_escapes_names_authors_and_messages(tmp_path: Path, fmt: str) -> None:
    require(shutil.which("git") is not None, "git")
    _git(tmp_path, "init", "-q")
    _tree(tmp_path)
    _git(tmp_path, "add", "-A")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "ev\x1b[31mil\r::error::forged",
        "GIT_AUTHOR_EMAIL": "e@example.com",
        "GIT_COMMITTER_NAME": "c",
        "GIT_COMMITTER_EMAIL": "c@example.com",
    }
    subject = "::error file=x::forged ![pixel](http://evil.example/p.png) <img src=x>"
    _git(tmp_path, "commit", "-qm", f"{subject}\n\nbody\x1b[2J", env=env)
    proc = run_cli(tmp_path, "history", ".", "--format", fmt)
    assert proc.returncode == 1, proc.stderr
    text = proc.stdout.decode("utf-8")
    if fmt == "json":
        report = json.loads(text)
        assert sorted({f["location"]["path"] for f in report["findings"]}) == [
            "bad\\xff\\xfename/compose.yaml",
            "esc\x1b[31mred\r::error::x/compose.yaml",
        ]
    elif fmt == "text":
        _inert(text)
        assert "ev\\x1b[31mil\\x0d::error::forged" in text
    else:
        # Markdown (a PR comment): no image, link or HTML from the repository's text.
        _inert(text)
        assert "![" not in text and not re.search(r"(?<!\\)<img", text), text
        assert "ev\\\\x1b\\[31mil\\\\x0d::error::forged" in text
        assert "\\!\\[pixel\\](http://evil.example/p.png) \\<img src=x\\>" in text


@pytest.mark.parametrize("fmt", ["json", "markdown", "html"])
def test_security_report_stays_valid_with_hostile_names(tmp_path: Path, fmt: str) -> None:
    _tree(tmp_path)
    proc = run_cli(tmp_path, "report", ".", "--no-history", "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode("utf-8")  # strict: a raw 0xff byte fails here
    if fmt == "json":
        json.loads(text)
    assert "\x1b" not in text and "\r" not in text
