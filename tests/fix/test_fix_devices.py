"""Devices a privileged service bind-mounts keep working after the fix (or privileged is kept, and
fix says why). Through the CLI with exact files and exit codes; one case end to end on the real
dockerd with the real `docker compose`: a busybox container opens /dev/cpu/0/cpuid under the
rewritten file, and the same file without the written device rule gets EPERM."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from click.testing import Result

from support.cli import invoke_in
from support.components import require, require_compose, require_docker
from support.images import busybox_image


def run(cwd: Path, *args: str) -> Result:
    return invoke_in(cwd, "fix", *args)


HEAD = "services:\n  ha:\n    image: example.com/home:1\n    user: '1000'\n"
# What replaces privileged for this non-root service, before the device settings.
DROPPED = (
    "    cap_drop:\n      - ALL  # drop everything, add back only what is needed\n"
    "    security_opt:\n      - no-new-privileges:true\n"
)
BINDS = """\
    volumes:
      - /dev/input:/dev/input
      - /dev/ttyUSB0:/dev/ttyUSB0
      - /dev/serial/by-id:/dev/serial/by-id:ro
      - /dev/dri/renderD128:/dev/dri/renderD128
      - /dev/shm:/dev/shm
      - ./config:/config
"""


def test_a_device_path_is_read_as_the_rules_read_it(tmp_path: Path) -> None:
    """``//dev/ttyUSB0`` is /dev/ttyUSB0 to the kernel and to the rules (host-device finds it): the
    fix carries it over too (it used to miss it, and the service lost its serial port)."""
    binds = "    volumes:\n      - //dev/ttyUSB0:/dev/ttyUSB0\n"
    (tmp_path / "compose.yaml").write_text(HEAD + "    privileged: true\n" + binds)
    res = run(tmp_path, "--write")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "compose.yaml").read_text() == HEAD + DROPPED + (
        "    devices:\n"
        "      - /dev/ttyUSB0:/dev/ttyUSB0  # bind-mounted device: without privileged it opens only when listed here\n"
    ) + binds


def test_bind_mounted_devices_are_carried_over(tmp_path: Path) -> None:
    """Nodes become devices: entries, directories narrow device_cgroup_rules by the class's static
    major; /dev/shm is no device. The same on any host: none of these depends on what /dev holds."""
    (tmp_path / "compose.yaml").write_text(HEAD + "    privileged: true\n" + BINDS)
    res = run(tmp_path, "--write")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "compose.yaml").read_text() == HEAD + DROPPED + (
        "    devices:\n"
        "      - /dev/ttyUSB0:/dev/ttyUSB0  # bind-mounted device: without privileged it opens only when listed here\n"
        "      - /dev/dri/renderD128:/dev/dri/renderD128  # bind-mounted device: without privileged it opens only "
        "when listed here\n"
        "    device_cgroup_rules:\n"
        '      - "c 13:* rw"  # input devices under the bind-mounted /dev/input (major 13, Linux devices.txt)\n'
        '      - "c 188:* rw"  # USB serial ports (ttyUSB) under the bind-mounted /dev/serial/by-id (major 188, '
        "Linux devices.txt)\n"
        '      - "c 166:* rw"  # USB ACM modems (ttyACM) under the bind-mounted /dev/serial/by-id (major 166, '
        "Linux devices.txt)\n"
    ) + BINDS
    assert [line for line in res.output.splitlines() if line.startswith("#")] == [
        f"# {tmp_path.name}/ha: privileged: cap_add none (confidence: inferred; fix: needs-verification)",
        "#   /dev/input: its devices may come and go, so they are allowed by major number (device_cgroup_rules), "
        "not listed one by one; see https://www.kernel.org/doc/Documentation/admin-guide/devices.txt",
        "#   /dev/serial/by-id: its devices may come and go, so they are allowed by major number "
        "(device_cgroup_rules), not listed one by one; see https://www.kernel.org/doc/Documentation/admin-guide/"
        "devices.txt",
        "#   runs as user '1000' (not root): Docker gives a non-root process no effective capabilities from "
        "cap_add (it sets no ambient capabilities), so dropping them all loses nothing unless a binary carries "
        "file capabilities",
        "#   privileged also gave every host device and disabled seccomp and AppArmor; if the service uses a host "
        "device, list it under devices:",
    ]
    assert run(tmp_path).output == "nothing to fix\n"


def test_all_of_dev_keeps_privileged_and_says_why(tmp_path: Path) -> None:
    text = HEAD + "    privileged: true\n    volumes:\n      - /dev:/dev\n"
    (tmp_path / "compose.yaml").write_text(text)
    res = run(tmp_path, "--write")
    assert (res.exit_code, res.output) == (1, (
        f"# {tmp_path.name}/ha: privileged: kept privileged\n"
        "#   it bind-mounts all of /dev, and privileged lets it open every host device; which ones it uses is "
        "not known: measure it with `leastcap profile ha` and list them under devices:\n"
    ))  # fmt: skip
    assert (tmp_path / "compose.yaml").read_text() == text


def dev_dir() -> Path:
    """A directory of our own under the host's /dev (removed by the caller)."""
    path = Path("/dev") / f"leastcap-fix-safety-{secrets.token_hex(4)}"
    try:
        path.mkdir()
    except OSError as exc:
        require(False, f"a writable /dev for a test directory ({exc.strerror})")
    return path


def test_an_unknown_device_directory_uses_the_hosts_numbers_or_keeps_privileged(tmp_path: Path) -> None:
    directory = dev_dir()
    try:
        text = HEAD + f"    privileged: true\n    volumes:\n      - {directory}:/dev/thing\n"
        (tmp_path / "compose.yaml").write_text(text)
        res = run(tmp_path, "--write")  # empty: nothing tells its numbers
        assert (res.exit_code, res.output) == (1, (
            f"# {tmp_path.name}/ha: privileged: kept privileged\n"
            f"#   it bind-mounts the device directory {directory}, and privileged lets it open the devices there; "
            "their major numbers are not known (not a statically numbered class, and no device nodes under "
            f"{directory} on this host): add device_cgroup_rules for them, then remove privileged\n"
        ))  # fmt: skip
        assert (tmp_path / "compose.yaml").read_text() == text
        os.mknod(directory / "node0", 0o600 | 0o020000, os.makedev(1, 11))  # a char node, major 1
        res = run(tmp_path, "--write")
        assert res.exit_code == 0, res.output
        assert (tmp_path / "compose.yaml").read_text() == HEAD + DROPPED + (
            "    device_cgroup_rules:\n"
            f'      - "c 1:* rw"  # the nodes under the bind-mounted {directory} (major 1 on this host)\n'
            f"    volumes:\n      - {directory}:/dev/thing\n"
        )
        assert (
            f"#   {directory}: the major numbers were read from the nodes on this host; a dynamically numbered "
            "class can differ on another host: check /proc/devices there"
        ) in res.output.splitlines()
    finally:
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()


def test_the_rewritten_file_opens_the_device_on_the_real_engine(tmp_path: Path) -> None:
    require_docker()
    compose = require_compose()
    require(Path("/dev/cpu/0/cpuid").exists(), "the cpuid device /dev/cpu/0/cpuid (x86, cpuid driver)")
    image = busybox_image()
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  probe:\n    image: {image}\n    privileged: true\n"
        "    volumes:\n      - /dev/cpu:/dev/cpu\n"
        '    command: ["sh", "-c", ": < /dev/cpu/0/cpuid && echo opened"]\n'
    )
    res = run(tmp_path, "--write", "--min-confidence", "unknown")
    assert res.exit_code == 0, res.output
    written = (tmp_path / "compose.yaml").read_text()
    assert "privileged" not in written
    assert (
        '    device_cgroup_rules:\n      - "c 202:* rw"  # CPU model-specific registers under the bind-mounted '
        '/dev/cpu (major 202, Linux devices.txt)\n      - "c 203:* rw"  # CPUID under the bind-mounted /dev/cpu '
        "(major 203, Linux devices.txt)\n"
    ) in written
    project = f"leastcap-fix-safety-{secrets.token_hex(4)}"

    def start(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [compose, "-p", project, "-f", str(path), "run", "--rm", "--no-TTY", "probe"],
            capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        )  # fmt: skip

    try:
        proc = start(tmp_path / "compose.yaml")
        assert (proc.returncode, proc.stdout) == (0, "opened\n"), proc.stderr
        # The control: the same file without the rules the fix wrote cannot open the device.
        without = tmp_path / "without-rules.yaml"
        without.write_text("".join(line for line in written.splitlines(keepends=True)
                                   if "device_cgroup_rules" not in line and ":* rw" not in line))  # fmt: skip
        proc = start(without)
        assert proc.returncode == 1
        assert "can't open /dev/cpu/0/cpuid: Operation not permitted" in proc.stderr
    finally:
        subprocess.run([compose, "-p", project, "-f", str(tmp_path / "compose.yaml"), "down", "--remove-orphans"],
                       capture_output=True, timeout=120, check=False, cwd=tmp_path)  # fmt: skip
