"""Image facts from an image's own files: the pure analysis on tar streams built here."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imagetar import ELF, SERVICE, Entry, build_tar

from leastcap.fix.grants import FixConfidence
from leastcap.imagefacts.filecaps import decode, encode
from leastcap.imagefacts.files import MAX_LINK_HOPS, ImageFiles
from leastcap.imagefacts.inspect import ImageConfig, analyse
from leastcap.imagefacts.model import ImageFact

CONFIG = ImageConfig(entrypoint=("docker-entrypoint.sh",), command=("server",))
EP = "/usr/local/bin/docker-entrypoint.sh"


def facts_of(entries: list[Entry], config: ImageConfig = CONFIG) -> list[ImageFact]:
    return list(
        analyse("example/service", "sha256:x", config, ImageFiles.from_tar(io.BytesIO(build_tar(entries)))).facts
    )


def rows(facts: list[ImageFact]) -> list[tuple[str, str, int, tuple[str, ...], bool]]:
    return [
        (f.kind.value, f.where.rsplit(":", 1)[0] if f.line else f.path, f.line, f.capabilities, f.breaks_nnp)
        for f in facts
    ]


EXPECTED_SERVICE = [
    ("chown", EP, 4, ("CHOWN",), False),
    ("network", EP, 7, ("NET_ADMIN",), False),
    ("network", EP, 8, ("NET_ADMIN", "NET_RAW"), False),
    ("sysctl", EP, 11, (), False),
    ("sysctl", EP, 12, (), False),
    ("setcap", EP, 14, ("SETFCAP", "NET_BIND_SERVICE"), True),
    ("user-switch", EP, 15, ("SETUID", "SETGID"), False),
    ("mknod", "/docker-entrypoint.d/10-tun.sh", 1, ("MKNOD",), False),
    ("module", "/docker-entrypoint.d/20-wg.sh", 2, (), False),
    ("network", "/docker-entrypoint.d/20-wg.sh", 3, ("NET_ADMIN",), False),
    ("setuid-helper", "/usr/local/bin/helper", 0, (), True),
    ("file-capability", "/usr/local/bin/pinger", 0, ("NET_RAW",), True),
]


def test_service_image_facts_with_their_lines() -> None:
    result = analyse("example/service", "sha256:x", CONFIG, ImageFiles.from_tar(io.BytesIO(build_tar(SERVICE))))
    assert rows(list(result.facts)) == EXPECTED_SERVICE
    assert result.scripts == (EP, "/docker-entrypoint.d/10-tun.sh", "/docker-entrypoint.d/20-wg.sh")
    assert result.capabilities == (
        "CHOWN",
        "NET_ADMIN",
        "NET_RAW",
        "SETFCAP",
        "NET_BIND_SERVICE",
        "SETUID",
        "SETGID",
        "MKNOD",
    )
    assert result.limits == ()
    by_line = {(f.path, f.line): f for f in result.facts}
    forward, aslr = by_line[(EP, 11)], by_line[(EP, 12)]
    assert (forward.sysctl, forward.needs_host, forward.text) == (
        "net.ipv4.ip_forward",
        False,
        "sysctl -w net.ipv4.ip_forward=1",
    )
    assert forward.note == "/proc/sys is read-only in a container: set it with sysctls: net.ipv4.ip_forward"
    assert (aslr.sysctl, aslr.needs_host) == ("kernel.randomize_va_space", True)
    assert aslr.note.startswith("it is not namespaced: no container can set it through sysctls:")
    assert by_line[("/usr/local/bin/helper", 0)].text == "4750 setuid root"
    assert by_line[("/usr/local/bin/helper", 0)].note == (
        "present but not called by the start-up scripts read; the service may run it later; "
        "no-new-privileges stops it gaining setuid root privileges"
    )
    pinger = by_line[("/usr/local/bin/pinger", 0)]
    assert (pinger.text, pinger.note) == (
        "0755 cap_net_raw=ep",
        "no-new-privileges makes the kernel ignore its file capabilities",
    )
    module = by_line[("/docker-entrypoint.d/20-wg.sh", 2)]
    assert (module.needs_host, module.capabilities) == (True, ())  # never SYS_MODULE


def test_a_shell_command_line_and_init_shims_are_followed() -> None:
    config = ImageConfig(
        entrypoint=("/sbin/tini", "--"), command=("sh", "-c", "chown app /data && exec su-exec app server")
    )
    assert rows(facts_of(SERVICE, config)) == [
        ("chown", "", 0, ("CHOWN",), False),
        ("user-switch", "", 0, ("SETUID", "SETGID"), False),
        ("setuid-helper", "/usr/local/bin/helper", 0, (), True),
        ("file-capability", "/usr/local/bin/pinger", 0, ("NET_RAW",), True),  # present, not called
    ]


def test_s6_overlay_init_reads_every_service_and_init_script() -> None:
    entries = [
        Entry("init", b"#!/bin/sh\nexec /package/admin/s6-overlay/command/s6-svscan\n"),
        Entry("package/admin/s6-overlay", None),
        Entry(
            "etc/s6-overlay/s6-rc.d/init-adduser/run",
            b'#!/usr/bin/with-contenv bash\nusermod -o -u "$PUID" abc\nlsiown abc:abc /config\n',
        ),
        Entry(
            "etc/s6-overlay/s6-rc.d/svc-app/run",
            b"#!/usr/bin/with-contenv bash\nexec s6-setuidgid abc /app/bin/server\n",
        ),
        Entry("etc/s6-overlay/s6-rc.d/svc-app/type", b"longrun\n"),
    ]
    facts = facts_of(entries, ImageConfig(entrypoint=("/init",)))
    assert rows(facts) == [
        ("chown", "/etc/s6-overlay/s6-rc.d/init-adduser/run", 3, ("CHOWN",), False),
        ("user-switch", "/etc/s6-overlay/s6-rc.d/svc-app/run", 2, ("SETUID", "SETGID"), False),
    ]


def test_called_distribution_helpers_count_and_setgid_too() -> None:
    entries = [*SERVICE, Entry("usr/local/bin/start", b"#!/bin/sh\nping -c1 gw\nsu -s /bin/sh app -c true\n")]
    entries += [Entry("usr/bin/crontab", ELF, mode=0o2755), Entry("usr/local/bin/mailer", ELF, mode=0o2755)]
    facts = facts_of(entries, ImageConfig(entrypoint=("start",)))
    assert rows(facts) == [
        ("user-switch", "/usr/local/bin/start", 3, ("SETUID", "SETGID"), False),
        ("file-capability", "/usr/bin/ping", 0, ("NET_RAW",), True),
        ("setuid-helper", "/usr/bin/su", 0, (), True),
        ("setuid-helper", "/usr/local/bin/helper", 0, (), True),
        ("setuid-helper", "/usr/local/bin/mailer", 0, (), True),
        ("file-capability", "/usr/local/bin/pinger", 0, ("NET_RAW",), True),
    ]


def test_read_only_network_commands_need_nothing() -> None:
    entries = [Entry("start", b"#!/bin/sh\nip addr show\nip route\nifconfig eth0\nsysctl net.core.somaxconn\ntc\n")]
    assert facts_of(entries, ImageConfig(entrypoint=("/start",))) == []


def test_link_loops_and_long_chains_do_not_resolve() -> None:
    entries = [Entry("a", link="b"), Entry("b", link="a"), Entry("start", b"#!/bin/sh\n/a\nchown x /y\n")]
    files = ImageFiles.from_tar(io.BytesIO(build_tar(entries)))
    assert files.resolve("/a") is None
    chain = [Entry(f"l{i}", link=f"l{i + 1}") for i in range(MAX_LINK_HOPS + 1)] + [
        Entry(f"l{MAX_LINK_HOPS + 1}", b"x")
    ]
    files = ImageFiles.from_tar(io.BytesIO(build_tar(chain)))
    assert files.resolve("/l1") == f"/l{MAX_LINK_HOPS + 1}"
    assert files.resolve("/l0") is None
    assert rows(facts_of(entries, ImageConfig(entrypoint=("/start",)))) == [("chown", "/start", 3, ("CHOWN",), False)]


def test_binary_files_and_oversized_scripts_are_not_read_as_scripts() -> None:
    entries = [
        Entry("start", b"#!/bin/sh\n/opt/big.sh\n/opt/bin.sh\n"),
        Entry("opt", None),
        Entry("opt/big.sh", b"#!/bin/sh\nchown a /b\n" + b"#" * (300 * 1024)),
        Entry("opt/bin.sh", b"#!/bin/sh\nmknod x\0\x01"),
        Entry("opt/python", b"#!/usr/bin/python3\nimport os; os.system('chown a /b')\n"),
    ]
    files = ImageFiles.from_tar(io.BytesIO(build_tar(entries)))
    assert sorted(files.scripts) == ["/start"]
    assert facts_of(entries, ImageConfig(entrypoint=("/start",))) == []


def test_a_cut_export_keeps_what_came_before_the_cut() -> None:
    # tarfile ends a stream quietly at a cut or at garbage after the first member (it has no total
    # to compare with); the engine reports a broken export itself. What matters: no crash, and
    # nothing invented from the part that is missing.
    data = build_tar(SERVICE)
    whole = ImageFiles.from_tar(io.BytesIO(data))
    cut = ImageFiles.from_tar(io.BytesIO(data[: len(data) // 2]))
    assert cut.names < whole.names
    assert set(cut.special) <= set(whole.special)
    assert ImageFiles.from_tar(io.BytesIO(b"garbage" * 100)).limits[0].startswith("the export could not be read")


@pytest.mark.parametrize(
    ("caps", "effective", "described"),
    [
        (("NET_RAW",), True, "cap_net_raw=ep"),
        (("NET_ADMIN", "BPF", "PERFMON"), False, "cap_net_admin,cap_perfmon,cap_bpf=p"),
    ],
)
def test_file_capabilities_round_trip(caps: tuple[str, ...], effective: bool, described: str) -> None:
    decoded = decode(encode(caps, effective))
    assert decoded is not None
    assert (decoded.effective, decoded.describe()) == (effective, described)


def test_file_capabilities_revision_3_and_garbage() -> None:
    rev3 = (
        (0x03000001).to_bytes(4, "little")
        + (1 << 13).to_bytes(4, "little")
        + bytes(12)
        + (100000).to_bytes(4, "little")
    )
    decoded = decode(rev3)
    assert decoded is not None and (decoded.permitted, decoded.rootid) == (("NET_RAW",), 100000)
    assert decode(b"\x00\x00\x00\x09" + bytes(16)) is None
    assert decode(b"\x01") is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_are_read_without_a_crash(data: bytes) -> None:
    files = ImageFiles.from_tar(io.BytesIO(data))
    # What was kept is inside the image (absolute, normalised) and every limit says what stopped it.
    assert all(name.startswith("/") and "/../" not in name + "/" for name in files.names)
    assert all(limit.startswith("the export could not be read") for limit in files.limits)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_script_text_gives_facts_not_a_crash(text: str) -> None:
    entries = [Entry("start", ("#!/bin/sh\n" + text).encode("utf-8", "surrogatepass"))]
    facts_of(entries, ImageConfig(entrypoint=("/start",)))


def test_text_read_from_an_image_is_defused_before_printing() -> None:
    from leastcap.imagefacts.render import render_facts

    entries = [Entry("st\x1b[2Jart", b"#!/bin/sh\nchown x /y # \x1b]0;owned\x07\n")]
    result = analyse(
        "evil\x1b[31m",
        "sha256:" + "0" * 64,
        ImageConfig(entrypoint=("/st\x1b[2Jart",)),
        ImageFiles.from_tar(io.BytesIO(build_tar(entries))),
    )
    text = render_facts(result)
    assert "\x1b" not in text and "\x07" not in text
    assert "- /st\\x1b[2Jart:2: chown x /y # \\x1b]0;owned\\x07\n    needs: CHOWN" in text


def fix_with(tmp_path: Path, entries: list[Entry], service: str) -> tuple[str, tuple[str, ...]]:
    """``leastcap fix`` of one service whose image is ``entries``: the rewritten file, the messages."""
    from leastcap.fix.apply import fix_project
    from leastcap.knowledge.image_knowledge import load_knowledge
    from leastcap.loader.api import LoadOptions

    facts = analyse("example/service", "sha256:x", CONFIG, ImageFiles.from_tar(io.BytesIO(build_tar(entries))))
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  app:\n    image: example/service\n" + service)
    result = fix_project(
        LoadOptions(working_dir=str(tmp_path)), load_knowledge(), cwd=str(tmp_path),
        min_confidence=FixConfidence.UNKNOWN, image_facts=lambda image: facts,
    )  # fmt: skip
    return result.edited[str(compose)].decode(), result.plans["app"].messages


LOOP_ENTRYPOINT_D = Entry(
    "usr/local/bin/docker-entrypoint.sh", b'#!/bin/sh\nfor f in /docker-entrypoint.d/*.sh; do . "$f"; done\n'
)
IP_FORWARD = b"#!/bin/sh\necho 1 > /proc/sys/net/ipv4/ip_forward\n"


def test_a_file_name_from_the_image_reaches_a_yaml_comment_as_one_escaped_line(tmp_path: Path) -> None:
    # A start-up script whose name carries newlines (a tar member name may): its sysctl becomes a
    # sysctls: entry whose comment names the script; the name must not break out of the comment.
    evil = "docker-entrypoint.d/10-a\n    privileged: true\n    #.sh"
    edited, _ = fix_with(tmp_path, [LOOP_ENTRYPOINT_D, Entry(evil, IP_FORWARD)], "    privileged: true\n")
    assert edited.splitlines()[-2:] == [
        "    sysctls:",
        "      - net.ipv4.ip_forward=1  # written at start-up"
        " (/docker-entrypoint.d/10-a\\x0a    privileged: true\\x0a    #.sh:2)",
    ]


def test_a_net_sysctl_is_not_written_for_a_service_on_the_host_network(tmp_path: Path) -> None:
    # Docker refuses to start a container with a net.* sysctl in the host's network namespace (runc's
    # validation): the sysctl is said, never written.
    entries = [LOOP_ENTRYPOINT_D, Entry("docker-entrypoint.d/10-fwd.sh", IP_FORWARD)]
    edited, messages = fix_with(tmp_path, entries, "    network_mode: host\n    privileged: true\n")
    assert "sysctls" not in edited
    assert (
        "the image's start-up at /docker-entrypoint.d/10-fwd.sh:2 (echo 1 > /proc/sys/net/ipv4/ip_forward): the "
        "service uses the host's network namespace (network_mode: host), where no net.* sysctl can be set per "
        "container"
    ) in messages


def test_line_numbers_and_texts_count_newlines_only() -> None:
    # A form feed (or \v, \x1c, \x85, \u2028) is not a line break to the shell: the line a fact
    # names is the line its text is from, for commands and /proc/sys writes alike.
    entries = [Entry("start", b"#!/bin/sh\n# form\x0cfeed\nchown x /y\r\necho 1 > /proc/sys/net/ipv4/ip_forward\n")]
    facts = facts_of(entries, ImageConfig(entrypoint=("/start",)))
    assert [(f.kind.value, f.line, f.text) for f in facts] == [
        ("chown", 3, "chown x /y"),
        ("sysctl", 4, "echo 1 > /proc/sys/net/ipv4/ip_forward"),
    ]
