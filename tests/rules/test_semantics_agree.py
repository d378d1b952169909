"""Rules, drift and the fixer read a Compose setting the same way (``leastcap.semantics``). Each test
is an answer on which two of them used to disagree, checked on services the real loader made."""

from __future__ import annotations

from pathlib import Path

from leastcap.audit.drift import diff_services
from leastcap.fix.plan import plan_service
from leastcap.knowledge.image_knowledge import load_knowledge
from leastcap.loader import LoadOptions, load_project
from leastcap.model import Service
from leastcap.profile.docker import with_no_new_privileges
from leastcap.rules.no_new_privileges import NoNewPrivileges
from leastcap.semantics import container_ports, is_root_user, no_new_privileges, without_option
from leastcap.tree import DiskTree


def services(tmp_path: Path, text: str) -> dict[str, Service]:
    (tmp_path / "compose.yaml").write_text(text)
    result = load_project(
        LoadOptions(working_dir=str(tmp_path), files=(str(tmp_path / "compose.yaml"),)),
        DiskTree(str(tmp_path)),
        effective=False,
    )
    assert result.project is not None, result.errors
    return {s.name: s for s in result.project.services}


NNP = """\
services:
  zero: {image: x, security_opt: ["no-new-privileges=0"]}
  one: {image: x, security_opt: ["no-new-privileges=1"]}
  on: {image: x, security_opt: ["no-new-privileges:true"]}
  last: {image: x, security_opt: ["no-new-privileges:false", "no-new-privileges:true"]}
  yes: {image: x, security_opt: ["no-new-privileges=yes"]}
"""


def test_no_new_privileges_zero_is_off_for_rule_drift_and_fixer(tmp_path: Path) -> None:
    s = services(tmp_path, NNP)
    assert {n: no_new_privileges(v.security_opt) for n, v in s.items()} == {
        "zero": False,
        "one": True,
        "on": True,
        "last": True,
        "yes": None,
    }
    project = load_project(
        LoadOptions(working_dir=str(tmp_path), files=(str(tmp_path / "compose.yaml"),)),
        DiskTree(str(tmp_path)),
        effective=False,
    ).project
    assert project is not None
    flagged = {
        f.service: f.message for f in (f for svc in project.services for f in NoNewPrivileges().check(svc, project))
    }
    assert sorted(flagged) == ["yes", "zero"]
    assert "switches no-new-privileges off (no-new-privileges=0)" in flagged["zero"]
    # Drift used to read "=0" as true, so a container running with no-new-privileges on matched a
    # file that switches it off.
    (diff,) = diff_services(s["zero"], s["on"])
    assert (diff.setting, diff.what, diff.more_privilege_on_container) == (
        "security_opt",
        "security_opt no-new-privileges: the container has no-new-privileges=false, the file says"
        " no-new-privileges=true",
        True,
    )
    assert diff_services(s["one"], s["on"]) == []
    assert diff_services(s["last"], s["on"]) == []
    # The fixer used to call "=1" an explicit choice other than true, and read the first of two
    # options although the last one wins.
    kb = load_knowledge()
    for name in ("one", "last", "on"):
        plan = plan_service(s[name], ["no-new-privileges"], kb)
        assert (plan.no_new_privileges, plan.messages) == (False, ()), name
    zero = plan_service(s["zero"], ["no-new-privileges"], kb)
    assert (zero.no_new_privileges, zero.messages) == (
        False,
        ("left 'no-new-privileges=0' as written: it is an explicit choice",),
    )


USERS = """\
services:
  group: {image: x, user: "0:1000"}
  rootname: {image: x, user: "root:staff"}
  app: {image: x, user: "1000"}
"""


def test_uid_zero_with_any_group_is_root_for_drift_and_fixer(tmp_path: Path) -> None:
    s = services(tmp_path, USERS)
    assert {n: is_root_user(v.user.value if v.user else None) for n, v in s.items()} == {
        "group": True,
        "rootname": True,
        "app": False,
    }
    assert is_root_user(None)
    # Drift used to count "0:1000" as a non-root user, so a container running as uid 0 against a
    # file that says 1000 was "less privilege".
    (diff,) = diff_services(s["group"], s["app"])
    assert (diff.setting, diff.more_privilege_on_container) == ("user", True)
    (diff,) = diff_services(s["rootname"], s["app"])
    assert (diff.setting, diff.more_privilege_on_container) == ("user", True)
    (diff,) = diff_services(s["app"], s["group"])
    assert (diff.setting, diff.more_privilege_on_container) == ("user", False)


def test_seccomp_colon_and_equals_spellings_are_one_option(tmp_path: Path) -> None:
    s = services(
        tmp_path,
        """\
services:
  colon: {image: x, security_opt: ["seccomp:unconfined", "label:type:spc_t"]}
  equals: {image: x, security_opt: ["seccomp=unconfined", "label=type:spc_t"]}
""",
    )
    assert diff_services(s["colon"], s["equals"]) == []


def test_bind_host_paths_compare_normalised(tmp_path: Path) -> None:
    s = services(
        tmp_path,
        """\
services:
  a: {image: x, volumes: ["/srv//data/../data:/data"]}
  b: {image: x, volumes: ["/srv/data:/data"]}
""",
    )
    assert diff_services(s["a"], s["b"]) == []


def test_container_ports() -> None:
    assert container_ports(["127.0.0.1:8080:80/tcp", "443", "[::1]:53:53/udp", "8000-8010:9000-9010", "x"]) == [
        53,
        80,
        443,
        9000,
    ]


def test_the_profiler_replaces_no_new_privileges_in_every_spelling_and_only_it() -> None:
    written = (
        "no-new-privileges",
        "seccomp=unconfined",
        "no-new-privileges=false",
        "no-new-privileges:0",
        "label:type:no-new-privileges_t",  # a label option whose value merely says it
        "apparmor:no-new-privileges",
    )
    kept = ("seccomp=unconfined", "label:type:no-new-privileges_t", "apparmor:no-new-privileges")
    assert without_option(written, "no-new-privileges") == kept
    assert with_no_new_privileges(written) == (*kept, "no-new-privileges:true")
