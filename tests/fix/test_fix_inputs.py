"""What fix reads and decides before editing: suppressed findings, --min-confidence, missing paths,
the .leastcap.yml loader (shared with scan). Through the CLI, exact output, files and exit codes."""

from __future__ import annotations

from pathlib import Path

from support.cli import invoke_in

GLUETUN = "services:\n  vpn:\n    image: qmcgaw/gluetun:v3\n    privileged: true\n"


run = invoke_in


# ---------------------------------------------------------------- suppressed findings


def test_an_inline_ignore_is_respected_and_stays(tmp_path: Path) -> None:
    text = (
        "services:\n  gpu:\n    image: example.com/transcoder:1\n"
        "    privileged: true  # leastcap: ignore[privileged] raw GPU register access, vendor ticket 4411\n"
        "  vpn:\n    image: qmcgaw/gluetun:v3\n    privileged: true\n"
    )
    (tmp_path / "compose.yaml").write_text(text)
    res = run(tmp_path, "fix", "--write")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[-6:] == [
        f"# {tmp_path.name}/gpu: privileged: suppressed by inline ignore (raw GPU register access, vendor "
        "ticket 4411); not edited",
        f"# {tmp_path.name}/vpn: privileged: cap_add NET_ADMIN on top of Docker's defaults (confidence: known; fix: needs-verification)",
        "#   image knowledge (gluetun) documents this set on top of Docker's default capabilities, so those "
        "stay (no cap_drop: [ALL]); run `leastcap profile vpn --verify --minimize` to find a smaller set",
        "#   privileged also gave every host device and disabled seccomp and AppArmor; if the service uses "
        "a host device, list it under devices:",
        "#   no-new-privileges added: the image knowledge (gluetun) lists no setuid or file-capability helper "
        "it would disable",
        "wrote compose.yaml",
    ]
    lines = (tmp_path / "compose.yaml").read_text().splitlines()
    assert lines[:4] == text.splitlines()[:4]  # gpu untouched, its ignore comment in place
    assert "privileged: true" not in "\n".join(lines[4:])


def test_a_valid_exception_is_respected(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(GLUETUN)
    (tmp_path / ".leastcap.yml").write_text(
        "exceptions:\n  - rule: privileged\n    service: vpn\n"
        "    justification: the kernel module loader needs it until the 2027 host upgrade\n"
        "    approved_by: security team\n    expires: 2099-01-01\n"
    )
    res = run(tmp_path, "fix", "--write")
    assert (res.exit_code, res.output) == (
        0,
        f"# {tmp_path.name}/vpn: privileged: suppressed by exception in .leastcap.yml (the kernel module "
        "loader needs it until the 2027 host upgrade); not edited\nnothing to fix\n",
    )
    assert (tmp_path / "compose.yaml").read_text() == GLUETUN


# ---------------------------------------------------------------- --min-confidence

UNKNOWN = "services:\n  agent:\n    image: example.com/k3s-agent:1\n    privileged: true\n"


def test_unknown_answers_are_proposed_not_written_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(UNKNOWN)
    res = run(tmp_path, "fix", "--write")
    assert res.exit_code == 1
    defaults = ("CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, "
                "NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE")  # fmt: skip
    assert res.output.splitlines()[:3] == [
        f"# {tmp_path.name}/agent: privileged: not written, only proposed: cap_add {defaults} (confidence: "
        "unknown; fix: unsafe, below --min-confidence inferred)",
        "#   next step: leastcap profile agent --verify --minimize",
        "#   nothing is known about example.com/k3s-agent:1: kept Docker's default capabilities explicitly; "
        "run `leastcap profile agent --verify --minimize` to measure the minimal set",
    ]
    assert "wrote" not in res.output
    assert (tmp_path / "compose.yaml").read_text() == UNKNOWN


def test_min_confidence_unknown_writes_it_and_known_refuses_inferred(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(UNKNOWN)
    res = run(tmp_path, "fix", "--write", "--min-confidence", "unknown")
    assert res.exit_code == 0, res.output
    assert res.output.endswith("wrote compose.yaml\n")
    assert "    privileged: true\n" not in (tmp_path / "compose.yaml").read_text()

    inferred = "services:\n  app:\n    image: example.com/app:1\n    user: '1000'\n    privileged: true\n"
    (tmp_path / "compose.yaml").write_text(inferred)
    res = run(tmp_path, "fix", "--write", "--min-confidence", "known")
    assert res.exit_code == 1
    assert res.output.splitlines()[0] == (
        f"# {tmp_path.name}/app: privileged: not written, only proposed: cap_add none (confidence: inferred; "
        "fix: needs-verification, below --min-confidence known)"
    )
    assert (tmp_path / "compose.yaml").read_text() == inferred
    res = run(tmp_path, "fix", "--write")  # the default, inferred, writes it
    assert res.exit_code == 0, res.output
    assert (tmp_path / "compose.yaml").read_text() == (
        "services:\n  app:\n    image: example.com/app:1\n    user: '1000'\n"
        "    cap_drop:\n      - ALL  # drop everything, add back only what is needed\n"
        "    security_opt:\n      - no-new-privileges:true\n"
    )


# ---------------------------------------------------------------- inputs


def test_a_path_that_does_not_exist_is_exit_2(tmp_path: Path) -> None:
    res = run(tmp_path, "fix", "nowhere")
    assert (res.exit_code, res.stderr) == (2, "error: nowhere: no such file or directory\n")
    res = run(tmp_path, "fix", "-f", "missing.yaml")
    assert (res.exit_code, res.stderr) == (2, "error: missing.yaml: no such file\n")


def test_a_bad_config_is_a_clean_exit_2_for_fix_and_explain_image(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(GLUETUN)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    for text, message in (
        (bomb, "error: .leastcap.yml:1:1: config is too large (alias bomb?)\n"),
        ("images: 3\n", "error: .leastcap.yml:1:9: images: 3 is not of type 'array'\n"),
        ("fail-on: [1\n", "error: .leastcap.yml:2:1: invalid YAML: did not find expected ',' or ']'\n"),
    ):
        (tmp_path / ".leastcap.yml").write_text(text)
        for args in (("fix",), ("explain-image", "nginx")):
            res = run(tmp_path, *args)
            assert isinstance(res.exception, SystemExit), (args, res.exception)
            assert (res.exit_code, res.stderr) == (2, message), args
    assert (tmp_path / "compose.yaml").read_text() == GLUETUN


# ---------------------------------------------------------------- comments


def test_comments_on_replaced_lines_move_with_the_edit(tmp_path: Path) -> None:
    """golden/comments_moved: the comment on `privileged: true` moves to the line replacing it, the
    comment block above stays above the new block, a comment on a removed `ALL` entry stays in place."""
    case = Path(__file__).parent / "golden" / "comments_moved"
    (tmp_path / "compose.yaml").write_bytes((case / "compose.yaml").read_bytes())
    res = run(tmp_path, "fix", "--write")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "compose.yaml").read_bytes() == (case / "expected" / "compose.yaml").read_bytes()


def test_the_config_is_found_from_the_named_file_like_scan(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "compose.yaml").write_text(GLUETUN)
    (sub / ".leastcap.yml").write_text("images: 3\n")  # found above sub/compose.yaml, not above the cwd
    res = run(tmp_path, "fix", "-f", "sub/compose.yaml")
    assert (res.exit_code, res.stderr) == (2, "error: sub/.leastcap.yml:1:9: images: 3 is not of type 'array'\n")


def test_control_characters_from_the_file_are_shown_not_obeyed(tmp_path: Path) -> None:
    """YAML allows control characters only as escapes in double-quoted scalars; their values reach
    fix's messages, which show them escaped."""
    (tmp_path / "compose.yaml").write_text(
        'services:\n  agent:\n    image: "example.com/\\e[2J\\e]0;owned\\a:1"\n    privileged: true\n'
    )
    res = run(tmp_path, "fix")
    assert res.exit_code == 1
    assert "\x1b" not in res.output and "\x07" not in res.output
    assert "#   nothing is known about example.com/\\x1b[2J\\x1b]0;owned\\x07:1: kept Docker's" in res.output


def test_a_service_accepted_only_in_part_is_not_half_edited(tmp_path: Path) -> None:
    text = (
        "services:\n  vpn:\n    image: qmcgaw/gluetun:v3\n"
        "    privileged: true  # leastcap: ignore[privileged] host firewall management, ticket 88\n"
        "    cap_add: [ALL]\n"
    )
    (tmp_path / "compose.yaml").write_text(text)
    res = run(tmp_path, "fix", "--write")
    assert (res.exit_code, res.output) == (1, (
        f"# {tmp_path.name}/vpn: privileged: suppressed by inline ignore (host firewall management, ticket 88); "
        "not edited\n"
        "# not fixed: service vpn: cap-add-all is not suppressed; fix it by hand\n"
    ))  # fmt: skip
    assert (tmp_path / "compose.yaml").read_text() == text
