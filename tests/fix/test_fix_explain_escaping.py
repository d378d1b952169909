"""What fix says about each service is one line per statement: a name or value from a hostile file
cannot add lines that read like the diff above it."""

from __future__ import annotations

from pathlib import Path

from support.cli import invoke_in


def test_a_service_name_with_newlines_cannot_fake_diff_lines(tmp_path: Path) -> None:
    work = tmp_path / "proj"
    work.mkdir()
    (work / "compose.yaml").write_text(
        'services:\n  "a\\n+    cap_add: [SYS_ADMIN]":\n    image: busybox\n    privileged: true\n'
    )
    result = invoke_in(work, "fix", "--no-inspect")
    lines = result.stdout.splitlines()
    assert [line for line in lines if "SYS_ADMIN" in line and not line.startswith(("#", '   "a'))] == []
    assert "# proj/a\\x0a+    cap_add: [SYS_ADMIN]: privileged: cap_add CHOWN, " in result.stdout
    assert result.exit_code == 0
