"""leastcap fix / explain-image through the CLI: exact output and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from leastcap.cli.main import cli
from support.profiles import verified_profile

GOLDEN = Path(__file__).parent / "golden"


def _case(tmp_path: Path, name: str) -> Path:
    work = tmp_path / name
    work.mkdir()
    for src in (GOLDEN / name).iterdir():
        if src.is_file() and src.name != "expected.diff":
            shutil.copy2(src, work / src.name)
    return work


def test_dry_run_prints_the_golden_diff_and_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = _case(tmp_path, "plain")
    monkeypatch.chdir(work)
    before = (work / "compose.yaml").read_bytes()
    res = CliRunner().invoke(cli, ["fix"])
    assert res.exit_code == 0, res.output
    expected = (GOLDEN / "plain" / "expected.diff").read_text()
    assert res.output == expected + (
        "# plain/vpn: privileged: cap_add NET_ADMIN on top of Docker's defaults (confidence: known; fix: needs-verification)\n"
        "#   image knowledge (gluetun) documents this set on top of Docker's default capabilities, so those "
        "stay (no cap_drop: [ALL]); run `leastcap profile vpn --verify --minimize` to find a smaller set\n"
        "#   privileged also gave every host device and disabled seccomp and AppArmor; "
        "if the service uses a host device, list it under devices:\n"
        "#   no-new-privileges added: the image knowledge (gluetun) lists no setuid or file-capability helper "
        "it would disable\n"
    )
    assert (work / "compose.yaml").read_bytes() == before


def test_write_with_backup_then_nothing_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = _case(tmp_path, "plain")
    monkeypatch.chdir(work)
    before = (work / "compose.yaml").read_bytes()
    (work / "compose.yaml").chmod(0o640)
    res = CliRunner().invoke(cli, ["fix", "--write", "--backup"])
    assert res.exit_code == 0, res.output
    assert res.output.endswith("wrote compose.yaml\n")
    assert (work / "compose.yaml.bak").read_bytes() == before
    assert (work / "compose.yaml").read_bytes() == (GOLDEN / "plain" / "expected" / "compose.yaml").read_bytes()
    assert (work / "compose.yaml").stat().st_mode & 0o777 == 0o640
    res = CliRunner().invoke(cli, ["fix", "--write"])
    assert (res.exit_code, res.output) == (0, "nothing to fix\n")


def test_dind_is_kept_and_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  ci:\n    image: docker:24-dind\n    privileged: true\n")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["fix"])
    assert res.exit_code == 1
    assert res.output.splitlines()[0] == f"# {tmp_path.name}/ci: privileged: kept privileged"
    assert "record an exception in .leastcap.yml" in res.output


def test_profile_file_drives_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  app:\n    image: example.com/app:1\n    privileged: true\n")
    profile = verified_profile(compose, "app", "CHOWN", "chown of /data by app")
    (tmp_path / "app.profile.json").write_text(json.dumps(profile))
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["fix", "--profile-file", "app.profile.json", "--write"])
    assert res.exit_code == 0, res.output
    assert compose.read_text() == (
        "services:\n  app:\n    image: example.com/app:1\n    cap_drop:\n"
        "      - ALL  # drop everything, add back only what is needed\n"
        "    cap_add:\n      - CHOWN  # chown of /data by app (measured and verified by leastcap profile)\n"
        "    security_opt:\n      - no-new-privileges:true\n"
    )
    assert "(confidence: verified; fix: safe)" in res.output


def test_explain_image_known_and_unknown() -> None:
    res = CliRunner().invoke(cli, ["explain-image", "qmcgaw/gluetun:latest"])
    assert res.exit_code == 0
    assert res.output == (
        "qmcgaw/gluetun (VPN client) [family: gluetun, built-in]\n"
        "patterns: qmcgaw/gluetun, */qmcgaw/gluetun\n"
        "run as its default user: complete (known), on top of Docker's default capabilities\n"
        "run as a non-root user (user:): not covered by the sources\n"
        "- VPN tunnel (default)\n"
        "    cap_add: NET_ADMIN\n"
        "    devices: /dev/net/tun:/dev/net/tun\n"
        "    why: opens the tun device and configures routes and the firewall; the documented run adds "
        "NET_ADMIN to Docker's defaults\n"
        "    source: https://github.com/qdm12/gluetun-wiki/blob/888ab89a61433de6561bf60e5af52d99374f48b1/"
        'setup/providers/expressvpn.md: "docker run -it --rm --cap-add=NET_ADMIN --device /dev/net/tun"\n'
    )
    res = CliRunner().invoke(cli, ["explain-image", "example.com/nothing:1"])
    assert res.exit_code == 0
    assert res.output.startswith("Nothing is known about example.com/nothing:1.\n")


def test_bad_profile_file_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "p.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["fix", "--profile-file", "p.json"])
    assert res.exit_code == 2
