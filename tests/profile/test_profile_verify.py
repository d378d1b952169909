"""Honest verification, as a user runs it (real dockerd, docker compose and the kernel's tracepoint):

- a recording whose workload failed is no baseline: "the recording itself failed", exit 1, unless
  the exit code was declared (--expect-exit);
- --probe-exec runs the probe inside a container the host cannot reach (network_mode: none);
- the kernel's network-module autoload (dev_load) never makes leastcap propose SYS_MODULE;
- with a probe, the functional minimum drops what the service only exercises (and says what fails
  without it); --keep-exercised keeps the stricter rule;
- a setuid-root / file-capability helper: both no-new-privileges and the helper are tried.
"""

from __future__ import annotations

import io
import re
import struct
import tarfile
from pathlib import Path
from typing import Any

import pytest
from profile_support import profile_json, require_all, runs, write_project

from leastcap.cli.profile_cmd import summary
from leastcap.profile.format import profile_from_dict
from leastcap.profile.helpers import XATTR, classify_member, file_capabilities
from support.images import rootfs_image

pytestmark = [pytest.mark.docker, pytest.mark.compose, pytest.mark.tracefs, pytest.mark.slow]

IMG = "leastcap-test/busybox:latest"
EARLY = r"the probe passed after the recording's \d+\.\ds warm-up"
# An httpd the host cannot reach: the probe runs inside the container.
HTTPD = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"
PROBE_EXEC = "wget -q -O- http://127.0.0.1:8080/"


def evidence(data: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {e["capability"]: (e["decision"], e["reason"]) for e in data["evidence"]}


def passed_early(data: dict[str, Any]) -> list[tuple[list[str], bool]]:
    """(cap_add, passed) of each run, checking that every passing run ended once the probe passed."""
    for v in data["verification"]:
        if v["passed"]:
            assert re.fullmatch(EARLY, v["reason"]), v
            assert v["ended_early"] == v["reason"]
    return [(v["cap_add"], v["passed"]) for v in data["verification"]]


def test_a_failed_recording_is_not_verified_unless_its_exit_code_was_declared(tmp_path: Path) -> None:
    require_all()
    compose = write_project(
        tmp_path / "batch",
        f"  app:\n    image: {IMG}\n    command: [sh, -c, 'touch /tmp/x && chown 1000 /tmp/x; exit 3']\n",
    )
    rc, data, err = profile_json(compose, "app", "--duration", "2s", "--verify", "--minimize")
    assert rc == 1, err
    assert "error: the recording itself failed (exit 3): it is not a baseline to verify against" in err
    assert (data["cap_add"], data["verified"], data["minimized"], data["verification"]) == (["CHOWN"], False, False, [])
    assert (data["recording"]["exit_code"], data["recording"]["failure"], data["recording"]["expect_exit"]) == (
        3,
        "exit 3",
        None,
    )
    assert (
        "the recording itself failed (exit 3): it is not a baseline to verify against, so nothing was verified"
        " or minimised and the proposal is what a failing run used; --expect-exit N declares a batch job's exit code"
    ) in data["notes"]

    # Declared: exit 3 is the batch job working, and verification compares against it.
    rc, data, err = profile_json(compose, "app", "--duration", "2s", "--verify", "--minimize", "--expect-exit", "3")
    assert rc == 0, err
    assert (data["cap_add"], data["verified"], data["minimized"]) == (["CHOWN"], True, True)
    assert runs(data) == [
        {"cap_add": ["CHOWN"], "passed": True, "reason": "exited with code 3, as in the recording"},
        # `; exit 3` exits 3 either way: the new denial is what fails it.
        {"cap_add": [], "passed": False, "reason": "audited denials where the recording was granted: CHOWN x1"},
    ]
    assert (data["recording"]["failure"], data["recording"]["expect_exit"]) == (None, 3)

    # A job that exits 0 where 3 was declared failed too.
    rc, data, err = profile_json(compose, "app", "--duration", "2s", "--verify", "--expect-exit", "0")
    assert rc == 1, err
    assert "the recording itself failed (exit 3; --expect-exit 0)" in err
    assert data["verification"] == []


def test_a_probe_failing_at_the_end_of_the_recording_fails_it(tmp_path: Path) -> None:
    require_all()
    compose = write_project(
        tmp_path / "noweb", f"  app:\n    image: {IMG}\n    network_mode: none\n    command: [sleep, '60']\n"
    )
    rc, data, err = profile_json(compose, "app", "--duration", "2s", "--verify", "--probe-exec", PROBE_EXEC)
    assert rc == 1, err
    assert "error: the recording itself failed (probe exit 1)" in err
    assert (data["verified"], data["verification"], data["recording"]["failure"]) == (False, [], "probe exit 1")
    assert (data["recording"]["probe"], data["recording"]["probe_exec"]) == (None, PROBE_EXEC)


def test_probe_exec_reaches_a_service_without_network_and_dev_load_is_not_a_need(tmp_path: Path) -> None:
    """`ip link show dev nosuch0` makes the kernel check NET_ADMIN and SYS_MODULE to autoload a
    module named after the missing interface (dev_load, inlined in dev_ioctl here): both are
    granted in the recording, neither is proposed, and the note says why."""
    require_all()
    services = (
        f"  app:\n    image: {IMG}\n    network_mode: none\n"
        f"    command: [sh, -c, 'ip link show dev nosuch0; {HTTPD}']\n"
    )
    compose = write_project(tmp_path / "isolated", services)
    rc, data, err = profile_json(compose, "app", "--duration", "3s", "--verify", "--probe-exec", PROBE_EXEC)
    assert rc == 0, err
    assert (data["cap_add"], data["verified"]) == ([], True)
    assert passed_early(data) == [([], True)]
    found = evidence(data)
    why = "only checked by dev_load, which is not a need"
    assert (found["NET_ADMIN"], found["SYS_MODULE"]) == (("optional_probe", why), ("optional_probe", why))
    sys_module = next(e for e in data["evidence"] if e["capability"] == "SYS_MODULE")
    assert (sys_module["granted"], sys_module["processes"]) == (0, [{"comm": "ip", "count": 1}])
    assert sys_module["frames"] == ["dev_ioctl", "sock_do_ioctl", "__x64_sys_ioctl"]
    assert (
        "SYS_MODULE not proposed: checked only by dev_load, the kernel's legacy network-module autoload: a lookup"
        " of a network interface that does not exist (e.g. `ip link show dev X`) asks to load a module named after"
        " it; denied, the lookup fails the same way, and granting SYS_MODULE would let the container load kernel"
        " modules"
    ) in data["notes"]
    assert (data["recording"]["probe_exec"], data["recording"]["failure"]) == (PROBE_EXEC, None)


# Runs httpd as `app` through su (SETUID, SETGID), serving a file only chown makes readable to it
# (CHOWN); mknod is merely tried (MKNOD): the service works without it.
FUNCTIONAL = (
    "mkdir -p /www && echo ok > /www/index.html && chmod 600 /www/index.html"
    " && chown 1000 /www/index.html; mknod /tmp/null c 1 3;"
    ' exec su -s /bin/sh app -c "exec httpd -f -p 8080 -h /www"'
)


def test_functional_minimum_drops_what_is_only_exercised_and_keep_exercised_keeps_it(tmp_path: Path) -> None:
    """Checked by hand once: without CHOWN the file stays root's 0600 and httpd answers 403 (probe
    fails); without SETGID or SETUID su exits 1; without MKNOD mknod fails and httpd serves."""
    require_all()
    services = f"  app:\n    image: {IMG}\n    network_mode: none\n    command: [sh, -c, '{FUNCTIONAL}']\n"
    compose = write_project(tmp_path / "functional", services)
    args = ("--duration", "3s", "--verify", "--minimize", "--probe-exec", PROBE_EXEC)
    rc, data, err = profile_json(compose, "app", *args)
    assert rc == 0, err
    assert (data["cap_add"], data["verified"], data["minimized"]) == (["CHOWN", "SETGID", "SETUID"], True, True)
    assert data["exercised"] == [
        {
            "capability": "MKNOD",
            "comm": "mknod",
            "syscall": "mknodat",
            "frames": ["vfs_mknod", "do_mknodat", "__x64_sys_mknodat"],
            "count": 1,
        }
    ]
    mknod = "without MKNOD: mknod's mknodat is denied (x1, at vfs_mknod); the service kept working"
    assert f"\n  {mknod}\n" in summary(profile_from_dict(data))
    assert evidence(data)["MKNOD"] == ("minimized_out", f"--minimize removed it and the probe kept passing ({mknod})")
    # The proposal passes; all four out fails; at least half of them were denied, so each is tried alone.
    assert passed_early(data) == [
        (["CHOWN", "SETGID", "SETUID", "MKNOD"], True),
        ([], False),
        (["SETGID", "SETUID", "MKNOD"], False),
        (["CHOWN", "SETUID", "MKNOD"], False),
        (["CHOWN", "SETGID", "MKNOD"], False),
        (["CHOWN", "SETGID", "SETUID"], True),
    ]
    assert [v["reason"] for v in data["verification"][1:5]] == [
        "exited with code 1 (the recording was still running after 3s)",
        "probe failed (exit code 1)",
        "exited with code 1 (the recording was still running after 3s)",
        "exited with code 1 (the recording was still running after 3s)",
    ]
    assert data["verification"][-1]["denials"] == ["MKNOD: mknod's mknodat x1"]
    assert data["minimize_runs"] == 5
    assert data["minimize_seconds"] > 0
    assert not any("no probe" in n for n in data["notes"])

    # --keep-exercised: any new audited denial fails a run, so MKNOD stays.
    rc, strict, err = profile_json(compose, "app", *args, "--keep-exercised")
    assert rc == 0, err
    assert (strict["cap_add"], strict["verified"], strict["exercised"]) == (
        ["CHOWN", "SETGID", "SETUID", "MKNOD"],
        True,
        [],
    )
    assert evidence(strict)["MKNOD"] == ("required", "1 audited check(s) granted")


# struct vfs_cap_data, revision 2, effective bit set: permitted = CAP_CHOWN (setcap cap_chown+ep).
CAP_CHOWN_EP = struct.pack("<IIIII", 0x02000001, 1 << 0, 0, 0, 0)


def _busybox_copy(tar: tarfile.TarFile, folder: str, applet: str, mode: int, xattr: bytes | None = None) -> None:
    """/opt/FOLDER/busybox: a copy of busybox with ``mode`` (and a file capability ``xattr``), and
    its APPLET as /opt/FOLDER/bin/APPLET (a symlink: busybox picks the applet by the name it is run
    as)."""
    for d in ("opt", f"opt/{folder}", f"opt/{folder}/bin"):
        entry = tarfile.TarInfo(d)
        entry.type, entry.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(entry)
    data = Path("/bin/busybox").read_bytes()
    info = tarfile.TarInfo(f"opt/{folder}/busybox")
    info.size, info.mode, info.uid = len(data), mode, 0
    if xattr is not None:
        info.pax_headers = {XATTR: xattr.decode("utf-8", "surrogateescape")}
    tar.addfile(info, io.BytesIO(data))
    link = tarfile.TarInfo(f"opt/{folder}/bin/{applet}")
    link.type, link.linkname = tarfile.SYMTYPE, "../busybox"
    tar.addfile(link)


def _capbox(tar: tarfile.TarFile) -> None:
    """/opt/cap/bin/chown: busybox with the file capability cap_chown+ep."""
    _busybox_copy(tar, "cap", "chown", 0o755, CAP_CHOWN_EP)


def test_file_capabilities_and_setuid_root_are_read_from_tar_headers() -> None:
    info = tarfile.TarInfo("opt/cap/busybox")
    info.pax_headers = {XATTR: CAP_CHOWN_EP.decode("utf-8", "surrogateescape")}
    assert classify_member(info) == ("file-capabilities", frozenset({"CAP_CHOWN"}))
    suid = tarfile.TarInfo("bin/suidbox")
    suid.mode, suid.uid = 0o4755, 0
    assert classify_member(suid) == ("setuid-root", frozenset())
    suid.uid = 1000  # setuid to an ordinary user gains no capability
    assert classify_member(suid) is None
    # v3 (namespaced root id, bits 32+ in its second word) and v1 are read too; a truncated value is nothing.
    v3 = struct.pack("<IIIIII", 0x03000000, 1 << 13, 0, 1 << 0, 0, 0)
    assert file_capabilities(v3) == {"CAP_NET_RAW", "CAP_MAC_OVERRIDE"}
    assert file_capabilities(struct.pack("<III", 0x01000000, 1 << 0, 0)) == {"CAP_CHOWN"}
    assert file_capabilities(b"\x01\x00") == frozenset()


CAPBOX_IMG = "leastcap-test/capbox-profile-verify:latest"
# uid 1000 runs the helper (its file capability lets it chown), then serves.
HELPER = (
    "mkdir -p /tmp/www && echo ok > /tmp/www/index.html && /opt/cap/bin/chown 0 /tmp/www/index.html;"
    " exec httpd -f -p 8080 -h /tmp/www"
)


@pytest.mark.parametrize(
    ("probe", "cap_add", "security_opt", "chosen", "passes"),
    [
        # The probe needs the helper's work (the file is root's): only the run without
        # no-new-privileges passes, so that is proposed, with the helper's capability.
        ('test "$(stat -c %u /tmp/www/index.html)" = 0', ["CHOWN"], [], "helper", (False, True)),
        # The probe only needs the web server: no-new-privileges passes with the helper disabled,
        # and CHOWN (used only through the helper) is minimised out.
        (PROBE_EXEC, [], ["no-new-privileges:true"], "no-new-privileges", (True, True)),
    ],
)
def test_a_file_capability_helper_lets_the_probe_choose_between_it_and_no_new_privileges(
    tmp_path: Path, probe: str, cap_add: list[str], security_opt: list[str], chosen: str, passes: tuple[bool, bool]
) -> None:
    require_all()
    image = rootfs_image(CAPBOX_IMG, _capbox)
    services = (
        f"  app:\n    image: {image}\n    user: '1000'\n    network_mode: none\n    command: [sh, -c, '{HELPER}']\n"
    )
    compose = write_project(tmp_path / "helper", services)
    rc, data, err = profile_json(compose, "app", "--duration", "3s", "--verify", "--minimize", "--probe-exec", probe)
    assert rc == 0, err
    assert data["helpers"] == [
        {
            "path": "/opt/cap/bin/chown",
            "kind": "file-capabilities",
            "file_capabilities": ["CHOWN"],
            "used": ["CHOWN"],
            "chosen": chosen,
        }
    ]
    assert (data["cap_add"], data["security_opt"], data["verified"]) == (cap_add, security_opt, True)
    # Both are tried with the proposal, and reported: no-new-privileges first, then without it.
    first = [(v["cap_add"], v["no_new_privileges"], v["passed"]) for v in data["verification"][:2]]
    assert first == [(["CHOWN"], True, passes[0]), (["CHOWN"], False, passes[1])]
    assert (
        "the service exec'd /opt/cap/bin/chown, a binary with file capabilities (CHOWN) and its process was granted"
        " CHOWN: with no-new-privileges it gains nothing, so a run with no-new-privileges cannot reproduce the"
        " recording; verification tries both"
    ) in data["notes"]
    pick = (
        "proposing no-new-privileges: the service works with the helper disabled"
        if chosen == "no-new-privileges"
        else "proposing no no-new-privileges, so that /opt/cap/bin/chown keeps its privilege"
    )
    a, b = ("passed" if p else "failed" for p in reversed(passes))
    assert (
        f"/opt/cap/bin/chown: no no-new-privileges, with the helper's capability: {a}; no-new-privileges, helper"
        f" disabled: {b}; {pick}"
    ) in data["notes"]
    if chosen == "no-new-privileges":
        # With CHOWN in the bounding set the helper ran and its chown was denied; without it the
        # kernel refuses to exec the helper at all (no check to see), and the service still works.
        assert data["verification"][0]["denials"] == ["CHOWN: chown's chown x1"]
        assert data["exercised"] == []
        assert (
            "without CHOWN, the kernel refuses to exec /opt/cap/bin/chown (EPERM: its file capabilities are not"
            " all in the container's bounding set); the service kept working"
        ) in data["notes"]


SUIDBOX_IMG = "leastcap-test/suidbox-profile-verify:latest"


def _suidbox(tar: tarfile.TarFile) -> None:
    """/opt/suid/bin/ping: a setuid-root busybox."""
    _busybox_copy(tar, "suid", "ping", 0o4755)


def test_a_setuid_root_helper_like_squids_pinger_keeps_its_privilege_when_the_probe_needs_it(tmp_path: Path) -> None:
    """uid 1000 runs a setuid-root ping (busybox keeps root for ping) that opens a raw socket
    (NET_RAW), like squid's pinger. Checked by hand once: with no-new-privileges the setuid bit is
    ignored and ping fails ("permission denied (are you root?)"); without it, and NET_RAW, it works."""
    require_all()
    image = rootfs_image(SUIDBOX_IMG, _suidbox)
    command = "/opt/suid/bin/ping -c1 -W1 127.0.0.1 && touch /tmp/pinged; exec sleep 60"
    services = f"  app:\n    image: {image}\n    user: '1000'\n    command: [sh, -c, '{command}']\n"
    compose = write_project(tmp_path / "pinger", services)
    args = ("--duration", "3s", "--verify", "--minimize", "--probe-exec", "test -e /tmp/pinged")
    rc, data, err = profile_json(compose, "app", *args)
    assert rc == 0, err
    assert data["helpers"] == [
        {
            "path": "/opt/suid/bin/ping",
            "kind": "setuid-root",
            "file_capabilities": [],
            "used": ["NET_RAW"],
            "chosen": "helper",
        }
    ]
    assert (data["cap_add"], data["security_opt"], data["verified"]) == (["NET_RAW"], [], True)
    assert [(v["cap_add"], v["no_new_privileges"], v["passed"]) for v in data["verification"]] == [
        (["NET_RAW"], True, False),
        (["NET_RAW"], False, True),
        ([], False, False),
    ]
    assert data["verification"][0]["denials"] == ["NET_RAW: ping's socket x1"]
    assert (
        "/opt/suid/bin/ping: no no-new-privileges, with the helper's capability: passed; no-new-privileges,"
        " helper disabled: failed; proposing no no-new-privileges, so that /opt/suid/bin/ping keeps its privilege"
    ) in data["notes"]
