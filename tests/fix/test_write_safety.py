"""`leastcap fix --write` on a hostile checkout: links, hard links, owners, read-only files and
mounts, a full disk, a permission error, a file changed under it, several files at once.

Every case goes through the CLI (exit code and message exact) and then checks the files byte for
byte, and that no temporary file or backup was left behind. The disk-full and read-only-mount
cases use a small tmpfs mounted by the test (root needed: skipped outside CI without it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import Result

from leastcap.fix.apply import fix_project, write_files
from leastcap.fix.write import WriteError
from leastcap.knowledge.image_knowledge import load_knowledge
from leastcap.loader.api import LoadOptions
from support.cli import invoke_in
from support.components import require

BEFORE = "services:\n  vpn:\n    image: qmcgaw/gluetun:v3\n    privileged: true\n"
AFTER = (
    "services:\n  vpn:\n    image: qmcgaw/gluetun:v3\n"
    "    cap_add:\n      - NET_ADMIN  # VPN tunnel (image knowledge: gluetun)\n"
    "    security_opt:\n      - no-new-privileges:true\n"
    "    devices:\n      - /dev/net/tun:/dev/net/tun  # VPN tunnel\n"
)
OVERRIDE_BEFORE = "services:\n  vpn2:\n    image: qmcgaw/gluetun:v3\n    privileged: true\n"


def run(cwd: Path, *args: str) -> Result:
    return invoke_in(cwd, "fix", *args)


def error_of(res: Result) -> str:
    """The one error line fix printed (stderr), after checking it exited 2 cleanly, no traceback."""
    assert isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, res.stderr
    return lines[0]


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def project(tmp_path: Path, text: str = BEFORE) -> Path:
    work = tmp_path / "proj"
    work.mkdir()
    (work / "compose.yaml").write_text(text)
    return work


# ---------------------------------------------------------------- backups


def test_backup_never_follows_a_link_and_never_overwrites(tmp_path: Path) -> None:
    work = project(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (work / "compose.yaml.bak").symlink_to(victim)
    res = run(work, "--write", "--backup")
    assert error_of(res) == (
        "error: compose.yaml.bak already exists; it is never overwritten: move it away; nothing written"
    )
    assert victim.read_text() == "precious\n"
    assert os.readlink(work / "compose.yaml.bak") == str(victim)
    assert (work / "compose.yaml").read_text() == BEFORE
    assert listing(work) == ["compose.yaml", "compose.yaml.bak"]

    (work / "compose.yaml.bak").unlink()
    (work / "compose.yaml.bak").write_text("an older backup\n")
    res = run(work, "--write", "--backup")
    assert error_of(res).startswith("error: compose.yaml.bak already exists")
    assert (work / "compose.yaml.bak").read_text() == "an older backup\n"
    assert (work / "compose.yaml").read_text() == BEFORE


def test_backup_keeps_the_original_inode_owner_and_mode(tmp_path: Path) -> None:
    work = project(tmp_path)
    compose = work / "compose.yaml"
    os.chown(compose, 1234, 5678)
    compose.chmod(0o640)
    before = os.stat(compose)
    res = run(work, "--write", "--backup")
    assert res.exit_code == 0, res.output
    assert res.output.endswith("wrote compose.yaml\n")
    after, bak = os.stat(compose), os.stat(work / "compose.yaml.bak")
    assert compose.read_text() == AFTER
    assert (work / "compose.yaml.bak").read_text() == BEFORE
    assert bak.st_ino == before.st_ino and bak.st_nlink == 1
    assert (after.st_uid, after.st_gid, after.st_mode & 0o7777) == (1234, 5678, 0o640)
    assert after.st_ino != before.st_ino
    assert listing(work) == ["compose.yaml", "compose.yaml.bak"]


# ---------------------------------------------------------------- links and modes


def test_a_linked_compose_file_is_refused_and_stays_a_link(tmp_path: Path) -> None:
    work = project(tmp_path)
    (work / "compose.yaml").rename(work / "docker-compose.real.yml")
    (work / "compose.yaml").symlink_to("docker-compose.real.yml")
    res = run(work)  # dry run: the diff, and that it cannot be written
    assert res.exit_code == 1
    assert res.output.splitlines()[-1] == (
        "# cannot be written: compose.yaml is a symbolic link to docker-compose.real.yml; leastcap never "
        "writes through a link: run fix on the file it points to"
    )
    res = run(work, "--write")
    assert error_of(res) == (
        "error: compose.yaml is a symbolic link to docker-compose.real.yml; leastcap never writes through "
        "a link: run fix on the file it points to; nothing written"
    )
    assert os.readlink(work / "compose.yaml") == "docker-compose.real.yml"
    assert (work / "docker-compose.real.yml").read_text() == BEFORE
    # Named directly, the real file is fixed (the link still points to it).
    res = run(work, "-f", "docker-compose.real.yml", "--write")
    assert res.exit_code == 0, res.output
    assert (work / "compose.yaml").read_text() == AFTER
    assert (work / "compose.yaml").is_symlink()


def test_a_file_reached_through_a_linked_directory_is_refused(tmp_path: Path) -> None:
    work = project(tmp_path)
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "compose.yaml").write_text(BEFORE)
    (work / "sub").symlink_to(real)
    res = run(work, "-f", "sub/compose.yaml", "--write")
    assert error_of(res) == (
        f"error: sub/compose.yaml is reached through the symbolic link {work}/sub; leastcap never writes "
        "through a link; nothing written"
    )
    assert (real / "compose.yaml").read_text() == BEFORE
    assert listing(real) == ["compose.yaml"]


def test_hard_links_are_refused_not_severed(tmp_path: Path) -> None:
    work = project(tmp_path)
    os.link(work / "compose.yaml", tmp_path / "other-name.yaml")
    res = run(work, "--write")
    assert error_of(res) == (
        "error: compose.yaml has 2 hard links; replacing it would split it from its other names: edit it "
        "by hand or remove the other links; nothing written"
    )
    assert os.stat(work / "compose.yaml").st_nlink == 2
    assert (tmp_path / "other-name.yaml").read_text() == BEFORE


def test_a_read_only_file_is_refused_not_replaced(tmp_path: Path) -> None:
    work = project(tmp_path)
    (work / "compose.yaml").chmod(0o444)
    res = run(work, "--write")
    assert error_of(res) == "error: compose.yaml is read-only (mode 0444); not replaced; nothing written"
    assert (work / "compose.yaml").read_text() == BEFORE
    assert listing(work) == ["compose.yaml"]


def test_a_read_only_directory_is_refused_also_for_root(tmp_path: Path) -> None:
    work = project(tmp_path)
    work.chmod(0o555)
    try:
        res = run(work, "--write")
        assert error_of(res) == (
            "error: the directory of compose.yaml is read-only (mode 0555); not written; nothing written"
        )
    finally:
        work.chmod(0o755)
    assert (work / "compose.yaml").read_text() == BEFORE
    assert listing(work) == ["compose.yaml"]


# ---------------------------------------------------------------- changed since read


def test_a_change_after_the_read_is_caught_right_before_the_rename(tmp_path: Path) -> None:
    """Same size and the same mtime (restored to the nanosecond): only the hash can see it."""
    work = project(tmp_path)
    compose = work / "compose.yaml"
    result = fix_project(LoadOptions(working_dir=str(work)), load_knowledge(), cwd=str(work))
    st = os.stat(compose)
    tampered = BEFORE.replace("gluetun:v3", "gluetun:v4")
    compose.write_text(tampered)
    os.utime(compose, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(WriteError, match=r"^compose.yaml changed since it was read; not written; nothing written$"):
        write_files(result)
    assert compose.read_text() == tampered
    assert listing(work) == ["compose.yaml"]

    # Replaced by an identical copy (another inode): also refused.
    result = fix_project(LoadOptions(working_dir=str(work)), load_knowledge(), cwd=str(work))
    (work / "copy").write_text(tampered)
    os.replace(work / "copy", compose)
    with pytest.raises(WriteError, match="changed since it was read"):
        write_files(result)
    assert listing(work) == ["compose.yaml"]


# ---------------------------------------------------------------- several files


def two_files(tmp_path: Path) -> Path:
    work = project(tmp_path)
    (work / "compose.override.yaml").write_text(OVERRIDE_BEFORE)
    return work


def test_several_files_are_checked_before_any_is_written(tmp_path: Path) -> None:
    work = two_files(tmp_path)
    (work / "compose.yaml").chmod(0o444)
    res = run(work, "--write", "--backup")
    assert error_of(res).startswith("error: compose.yaml is read-only")
    assert (work / "compose.override.yaml").read_text() == OVERRIDE_BEFORE
    assert listing(work) == ["compose.override.yaml", "compose.yaml"]


def test_a_failed_write_restores_the_files_already_written(tmp_path: Path) -> None:
    """compose.override.yaml is replaced first; compose.yaml is immutable (chattr +i), so keeping
    its original fails; the override is put back and the run says so."""
    work = two_files(tmp_path)
    immutable = subprocess.run(["chattr", "+i", str(work / "compose.yaml")], capture_output=True, check=False)
    require(immutable.returncode == 0, "chattr +i (root on a file system with the immutable flag)")
    try:
        override_inode = os.stat(work / "compose.override.yaml").st_ino
        res = run(work, "--write")
        assert error_of(res) == (
            "error: compose.yaml: Operation not permitted; restored compose.override.yaml to its original "
            "text; nothing written"
        )
        assert listing(work) == ["compose.override.yaml", "compose.yaml"]
        # With --backup the backup of compose.yaml cannot be made (a link to an immutable file): the
        # edit stops before any rename, and the override's backup made a moment before is removed.
        res = run(work, "--write", "--backup")
        assert error_of(res) == (
            "error: compose.yaml: cannot make the backup compose.yaml.bak: Operation not permitted; nothing written"
        )
    finally:
        subprocess.run(["chattr", "-i", str(work / "compose.yaml")], check=True)
    assert (work / "compose.override.yaml").read_text() == OVERRIDE_BEFORE
    assert os.stat(work / "compose.override.yaml").st_ino == override_inode
    assert (work / "compose.yaml").read_text() == BEFORE
    assert listing(work) == ["compose.override.yaml", "compose.yaml"]


def as_nobody(cwd: Path, *args: str) -> tuple[int, str]:
    """Run fix in a forked child that became uid/gid 65534 (the interpreter under /root could not be
    executed by nobody, so the child keeps this one); returns (exit code, stderr)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 3
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            res = run(cwd, *args)
            os.write(
                write_end,
                (res.stderr + ("" if isinstance(res.exception, SystemExit) else repr(res.exception))).encode(),
            )
            code = res.exit_code
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        stderr = fh.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), stderr


# ---------------------------------------------------------------- full disk, read-only mount, EACCES


@contextmanager
def small_tmpfs(path: Path, size: str = "64k") -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, check=False)  # fmt: skip
    require(mounted.returncode == 0, "mounting a tmpfs (root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def fill(directory: Path) -> None:
    """Fill the file system until nothing more fits."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_disk_full_is_a_clean_error_and_leaves_nothing(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "mnt") as mnt:
        work = two_files(mnt)
        fill(mnt)
        res = run(work, "--write", "--backup")
        assert error_of(res) == "error: compose.override.yaml: no space left on the device; nothing written"
        assert (work / "compose.yaml").read_text() == BEFORE
        assert (work / "compose.override.yaml").read_text() == OVERRIDE_BEFORE
        assert listing(work) == ["compose.override.yaml", "compose.yaml"]


def test_a_read_only_mount_is_a_clean_error(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "mnt") as mnt:
        work = project(mnt)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        res = run(work, "--write")
        assert error_of(res) == "error: compose.yaml: Read-only file system; nothing written"
        assert (work / "compose.yaml").read_text() == BEFORE
        assert listing(work) == ["compose.yaml"]


def test_a_permission_error_is_a_clean_error(tmp_path: Path) -> None:
    """As user nobody: the file is writable for everyone, its directory is not."""
    require(os.geteuid() == 0, "root (to run leastcap as another user)")
    # pytest's own temporary directories are private to root; nobody needs to reach this one.
    base = Path(tempfile.mkdtemp(prefix="leastcap-fix-safety-"))
    try:
        base.chmod(0o755)
        work = project(base)
        (work / "compose.yaml").chmod(0o666)
        assert as_nobody(work, "--write") == (2, "error: compose.yaml: Permission denied; nothing written\n")
        assert (work / "compose.yaml").read_text() == BEFORE
        assert listing(work) == ["compose.yaml"]
    finally:
        shutil.rmtree(base)
