"""`leastcap diff BASE [HEAD]` through the CLI, on real git repositories made here."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from history.history_gitrepo import GitRepo
from support.cli import invoke_in
from support.golden import check_golden

GOLDEN = Path(__file__).parent / "golden"

BASE = """\
services:
  vpn:
    image: example/vpn
    privileged: true
    security_opt: [no-new-privileges:true]
  web:
    image: nginx
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
"""

# The same two services, reordered, reformatted and commented: nothing added or removed.
REFORMATTED = """\
# the web front end first now
services:
  web:
    security_opt: ["no-new-privileges:true"]
    image: nginx
    cap_drop:
      - ALL

  vpn:
    security_opt:
      - no-new-privileges:true
    image: example/vpn
    privileged: true
"""

# vpn loses privileged for two capabilities; web gains the Docker socket.
CHANGED = """\
services:
  vpn:
    image: example/vpn
    cap_drop: [ALL]
    cap_add: [NET_ADMIN, SYS_MODULE]
    security_opt: [no-new-privileges:true]
  web:
    image: nginx
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo(tmp_path / "shop")
    r.commit("base", {"deploy/compose.yaml": BASE})
    r.git("tag", "v1")
    return r


def _diff(repo: GitRepo, *args: str) -> tuple[int, str]:
    result = invoke_in(repo.path, "diff", *args)
    return result.exit_code, result.stdout


def _rows(findings: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (
            f["rule"],
            f["severity"],
            f["project"],
            f["service"],
            f["location"]["path"],  # type: ignore[index]
            f["location"]["line"],
            f["location"]["column"],
        )
        for f in findings
    ]  # type: ignore[index]


def test_reordered_and_reformatted_is_no_change(repo: GitRepo) -> None:
    repo.commit("reformat", {"deploy/compose.yaml": REFORMATTED})
    code, out = _diff(repo, "v1", "HEAD", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert (document["added"], document["removed"], document["unchanged"]) == ([], [], 1)
    assert document["base"] == {"revision": "v1", "commit": repo.git("rev-parse", "v1").strip()}
    assert document["head"] == {"revision": "HEAD", "commit": repo.git("rev-parse", "HEAD").strip()}


def test_added_and_removed_by_fingerprint(repo: GitRepo) -> None:
    repo.commit("caps instead of privileged; socket for web", {"deploy/compose.yaml": CHANGED})
    code, out = _diff(repo, "v1", "HEAD", "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert _rows(document["added"]) == [
        ("dangerous-capability", "high", "deploy", "vpn", "deploy/compose.yaml", 5, 15),
        ("dangerous-capability", "critical", "deploy", "vpn", "deploy/compose.yaml", 5, 26),
        ("docker-socket", "critical", "deploy", "web", "deploy/compose.yaml", 12, 9),
    ]
    assert _rows(document["removed"]) == [
        ("privileged", "critical", "deploy", "vpn", "deploy/compose.yaml", 4, 5),
    ]
    assert document["unchanged"] == 0
    assert document["exit_code"] == 1
    head = repo.git("rev-parse", "HEAD").strip()[:12]
    for fmt, suffix in (("markdown", "md"), ("text", "txt"), ("github", "github")):
        code, out = _diff(repo, "v1", "HEAD", "--format", fmt)
        assert code == 1
        check_golden(
            GOLDEN / f"changed.{suffix}",
            out.replace(head, "HEADCOMMIT").replace(repo.git("rev-parse", "v1").strip()[:12], "BASECOMMIT"),
        )
    code, out = _diff(repo, "v1", "HEAD", "--format", "sarif")
    sarif = json.loads(out)
    assert [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in sarif["runs"][0]["results"]
    ] == [("dangerous-capability", 5), ("dangerous-capability", 5), ("docker-socket", 12)]


def test_fail_on_threshold(repo: GitRepo) -> None:
    repo.commit(
        "net admin only",
        {
            "deploy/compose.yaml": BASE.replace(
                "    privileged: true\n", "    privileged: true\n    cap_add: [NET_ADMIN]\n"
            )
        },
    )
    assert _diff(repo, "v1", "HEAD", "--fail-on", "critical")[0] == 0
    assert _diff(repo, "v1", "HEAD", "--fail-on", "high")[0] == 1  # NET_ADMIN next to privileged: high


def test_the_threshold_is_the_bases_fail_on_unless_given(repo: GitRepo) -> None:
    net_admin = BASE.replace("    privileged: true\n", "    privileged: true\n    cap_add: [NET_ADMIN]\n")
    repo.commit("policy", {".leastcap.yml": "fail-on: critical\n"})
    repo.git("tag", "v2")
    repo.commit("net admin only", {"deploy/compose.yaml": net_admin})
    # The added finding is high: below the base's critical, at the default and given high.
    assert _diff(repo, "v2", "HEAD")[0] == 0
    assert _diff(repo, "v2", "HEAD", "--fail-on", "high")[0] == 1
    code, out = _diff(repo, "v2", "HEAD", "--format", "json")
    assert (code, json.loads(out)["fail_on"]) == (0, "critical")
    # A change cannot lower its own bar: v1 has no fail-on (high), the change sets critical.
    code, out = _diff(repo, "v1", "HEAD", "--format", "json")
    assert (code, json.loads(out)["fail_on"]) == (1, "high")
    assert [w["message"] for w in json.loads(out)["warnings"]] == [
        "this change edits the fail-on:, rules:, scripts: or approvers: settings; the diff judges both sides "
        "with the base's (the edit applies once it is merged)"
    ]


def test_head_defaults_to_the_working_tree(repo: GitRepo) -> None:
    (repo.path / "deploy" / "compose.yaml").write_text(REFORMATTED)
    code, out = _diff(repo, "v1", "--format", "json")
    assert code == 0
    assert json.loads(out)["head"] == {"revision": None, "commit": None}
    assert json.loads(out)["unchanged"] == 1
    (repo.path / "deploy" / "compose.yaml").write_text(CHANGED)
    code, out = _diff(repo, "HEAD")
    assert code == 1
    assert out.splitlines()[0] == f"leastcap diff HEAD ({repo.git('rev-parse', 'HEAD').strip()[:12]}) -> working tree"
    assert out.splitlines()[-1] == "3 findings added, 1 removed, 0 unchanged; 3 added at or above high."


def test_a_hostile_commit_is_read_from_objects_never_checked_out(repo: GitRepo) -> None:
    """A HEAD commit whose compose file is a symlink out of the repository and whose other file is
    over the size limit: read through git objects, the link is not followed onto this machine's
    files, nothing is written to the work tree and the checkout stays where it was."""
    secret = repo.path.parent / "secret.yaml"
    secret.write_text("services:\n  leak:\n    image: x\n    privileged: true\n")
    (repo.path / "deploy" / "compose.yaml").unlink()
    (repo.path / "deploy" / "compose.yaml").symlink_to(secret)
    (repo.path / "big").mkdir()
    (repo.path / "big" / "compose.yaml").write_text("services:\n  big:\n    image: x\n#" + "x" * (9 * 1024 * 1024))
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "hostile")
    hostile = repo.git("rev-parse", "HEAD").strip()
    repo.git("checkout", "-q", "v1")
    before = repo.git("status", "--porcelain", "--ignored")
    code, out = _diff(repo, "v1", hostile, "--format", "json")
    document = json.loads(out)
    assert code == 2  # HEAD's files could not be read
    assert [e["path"] for e in document["errors"]] == ["big/compose.yaml", "deploy/compose.yaml"]
    assert document["errors"][0]["message"].startswith("big/compose.yaml is 9437215 bytes, over the 4194304-byte limit")
    # the link points outside the repository: not followed onto ../secret.yaml on this machine
    assert document["errors"][1]["message"] == "cannot read deploy/compose.yaml: no such file in this commit"
    assert [f["service"] for f in document["added"]] == []
    assert _rows(document["removed"]) == [("privileged", "critical", "deploy", "vpn", "deploy/compose.yaml", 4, 5)]
    assert repo.git("status", "--porcelain", "--ignored") == before
    assert repo.git("rev-parse", "HEAD").strip() == repo.git("rev-parse", "v1").strip()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), "leastcap diff: 'nope' is not a commit in "),
        (("--upload-pack=touch /tmp/x", "HEAD"), "No such option"),
        (("-C", ".", "--", "-x"), "leastcap diff: '-x' is not a revision\n"),
    ],
)
def test_bad_revisions_are_clean_errors(repo: GitRepo, args: tuple[str, ...], message: str) -> None:
    result = invoke_in(repo.path, "diff", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_outside_a_repository(tmp_path: Path) -> None:
    env_dir = tmp_path / "plain"
    env_dir.mkdir()
    result = invoke_in(env_dir, "diff", "HEAD")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"leastcap diff: {env_dir}: not inside a git work tree")


def test_project_name_follows_the_repository_not_the_checkout(tmp_path: Path) -> None:
    """A project at the root is named after the repository's directory on both sides."""
    r = GitRepo(tmp_path / "store")
    r.commit("one", {"compose.yaml": BASE})
    r.commit("two", {"compose.yaml": CHANGED})
    clone = tmp_path / "elsewhere"
    subprocess.run(
        ["git", "clone", "-q", str(r.path), str(clone)],
        check=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null"},
    )
    result = invoke_in(clone, "diff", "HEAD~1", "--format", "json")
    document = json.loads(result.stdout)
    assert {f["project"] for f in document["added"] + document["removed"]} == {"elsewhere"}
    assert document["unchanged"] == 0
    assert len(document["added"]) == 3


def test_markdown_comment_escapes_hostile_values(repo: GitRepo) -> None:
    """A mount source written to hijack a pull-request comment (HTML, a link, a mention, a table
    pipe, a heading) stays text."""
    hostile = "/etc/<img src=x>[ok](https://evil.example) @acme/security | # x"
    repo.commit("hostile mount", {"deploy/compose.yaml": BASE + f'    volumes:\n      - "{hostile}:/x"\n'})
    code, out = _diff(repo, "v1", "HEAD", "--format", "markdown")
    assert code == 1  # under /etc, writable: sensitive-mount, high
    assert "<img" not in out.replace("\\<img", "") and " @acme" not in out
    (line,) = [line for line in out.splitlines() if "evil" in line]
    # Compose splits the spec at its colons: the source ends at "https", the target starts at "//evil..."
    assert line.endswith(
        "mounts the host's /etc/\\<img src=x\\>\\[ok\\](https, part of the host's system files "
        "and configuration writable at /evil.example) \\@acme/security \\| \\# x"
    )


def test_markdown_names_who_accepted_an_added_finding(repo: GitRepo) -> None:
    """A change that adds privilege and accepts it in the same change passes the gate; the comment
    must show who the change says approved it, until when, or that nobody did (an inline ignore),
    so the reviewer can check that approval on the forge."""
    config = (
        "approvers: [alice]\nexceptions:\n  - rule: docker-socket\n    service: web\n"
        "    justification: reads container labels until the socket proxy is deployed\n"
        "    approved_by: alice\n    expires: 2099-01-31\n    ticket: SEC-7\n"
    )
    compose = BASE.replace(
        "    privileged: true\n",
        "    privileged: true\n    pid: host  # leastcap: ignore[host-namespace]"
        " the exporter reads host process counters\n",
    )
    repo.commit(
        "socket, accepted",
        {"deploy/compose.yaml": compose + "    volumes: [/var/run/docker.sock:/x]\n", ".leastcap.yml": config},
    )
    code, out = _diff(repo, "v1", "HEAD", "--format", "markdown")
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("- **")]
    assert lines == [
        "- **high** [host-namespace](https://github.com/leastcap/leastcap/blob/main/docs/rules.md#host-namespace) at "
        "`deploy/compose.yaml:5:5`: service 'vpn' sets pid: host, so it sees and signals every host process (and, with "
        "SYS\\_PTRACE, reads their memory) (accepted by an inline ignore, no approver: the exporter reads host process "
        "counters)",
        "- **critical** [docker-socket](https://github.com/leastcap/leastcap/blob/main/docs/rules.md#docker-socket) at "
        "`deploy/compose.yaml:11:15`: service 'web' mounts /var/run/docker.sock, the Docker API, which lets it start a "
        "privileged container that mounts the host's root file system: root on the host (accepted by an exception "
        "approved by alice until 2099-01-31, ticket SEC-7: reads container labels until the socket proxy is deployed)",
    ]


def test_a_device_made_writable_is_added(repo: GitRepo) -> None:
    """Read access to a raw disk becoming read-write is privilege the change adds (a writable host
    file system), so it is a new finding; spelling the same permissions another way is not."""
    device = "    devices: [/dev/sda:/dev/sda:r]\n"
    repo.commit("read the disk", {"deploy/compose.yaml": BASE + device})
    repo.commit("same, spelled out", {"deploy/compose.yaml": BASE + "    devices: ['/dev/sda:/dev/sda:r']\n"})
    assert _diff(repo, "HEAD~1", "HEAD", "--format", "json")[0] == 0
    repo.commit("write the disk", {"deploy/compose.yaml": BASE + "    devices: [/dev/sda:/dev/sda:mwr]\n"})
    repo.commit("same, reordered", {"deploy/compose.yaml": BASE + "    devices: [/dev/sda:/dev/sda:rwm]\n"})
    code, out = _diff(repo, "HEAD~1", "HEAD", "--format", "json")
    assert (code, json.loads(out)["added"], json.loads(out)["unchanged"]) == (0, [], 2)
    code, out = _diff(repo, "HEAD~3", "HEAD", "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert _rows(document["added"]) == [("host-device", "critical", "deploy", "web", "deploy/compose.yaml", 10, 15)]
    assert _rows(document["removed"]) == [("host-device", "critical", "deploy", "web", "deploy/compose.yaml", 10, 15)]
    assert document["added"][0]["message"].endswith("with permissions rwm")


def test_the_change_cannot_switch_off_the_rules_that_judge_it(repo: GitRepo) -> None:
    """A change that adds privilege and, in the same change, disables the rule or lowers its
    severity in .leastcap.yml is judged with the base's rule settings: the privilege is added
    and the gate fails; the edit is said, and applies once merged."""
    config = "rules:\n  privileged: {enabled: false}\n  host-namespace: {severity: info}\n"
    web = "    privileged: true\n    pid: host\n"
    repo.commit("quietly", {"deploy/compose.yaml": BASE + web, ".leastcap.yml": config})
    code, out = _diff(repo, "v1", "HEAD", "--format", "json")
    assert code == 1
    document = json.loads(out)
    assert _rows(document["added"]) == [
        ("privileged", "critical", "deploy", "web", "deploy/compose.yaml", 10, 5),
        ("host-namespace", "high", "deploy", "web", "deploy/compose.yaml", 11, 5),
    ]
    assert [(w["path"], w["message"]) for w in document["warnings"]] == [
        (
            ".leastcap.yml",
            "this change edits the fail-on:, rules:, scripts: or approvers: settings; the diff judges both "
            "sides with the base's (the edit applies once it is merged)",
        ),
    ]
    # once merged, the next change is judged with them
    repo.git("tag", "v2")
    repo.commit("more", {"deploy/compose.yaml": BASE + web + "    cap_add: [SYS_ADMIN]\n"})
    code, out = _diff(repo, "v2", "HEAD", "--format", "json")
    document = json.loads(out)
    assert (code, [f["rule"] for f in document["added"]], document["warnings"]) == (1, ["dangerous-capability"], [])


def test_the_change_cannot_name_its_own_approver(repo: GitRepo) -> None:
    """With approvers: at the base, a change that adds privilege cannot accept it itself: not by
    adding its author to approvers: in the same change, nor with an inline ignore (it names no
    approver). An exception approved by someone already on the base's list is honoured."""
    repo.commit("champions", {".leastcap.yml": "approvers: [alice]\n"})
    repo.git("tag", "v-approvers")
    sneaky = (
        "approvers: [alice, mallory]\n"
        "exceptions:\n"
        "  - rule: privileged\n"
        "    service: web\n"
        "    justification: the web tier needs raw disk access for its cache warmer\n"
        "    approved_by: mallory\n"
        "    expires: 2099-01-01\n"
    )
    web = "    privileged: true\n    pid: host  # leastcap: ignore[host-namespace] reads host processes for metrics\n"
    repo.commit("self-approved", {"deploy/compose.yaml": BASE + web, ".leastcap.yml": sneaky})
    code, out = _diff(repo, "v-approvers", "HEAD", "--format", "json")
    document = json.loads(out)
    added = {f["rule"]: f for f in document["added"]}
    assert code == 1
    assert sorted(added) == ["exception-invalid", "host-namespace", "privileged"]
    assert added["privileged"].get("suppressed") is None
    assert added["host-namespace"].get("suppressed") is None
    invalid = sorted(f["message"] for f in document["added"] if f["rule"] == "exception-invalid")
    assert invalid == [
        "exception for rule 'privileged' (service 'web') is not honoured: approved_by 'mallory' is not one of the "
        "approvers (who may approve: alice)",
        "inline ignore[host-namespace] is not honoured: inline ignores name no approver; with approvers: in the "
        "config, accept it with an exception",
    ]
    assert [w["message"] for w in document["warnings"]] == [
        "this change edits the fail-on:, rules:, scripts: or approvers: settings; the diff judges both sides with the base's "
        "(the edit applies once it is merged)"
    ]
    # The same exception approved by alice, who is on the base's list, is honoured.
    repo.commit(
        "approved", {".leastcap.yml": sneaky.replace("[alice, mallory]", "[alice]").replace("by: mallory", "by: alice")}
    )
    code, out = _diff(repo, "v-approvers", "HEAD", "--format", "json")
    added = {f["rule"]: f for f in json.loads(out)["added"]}
    assert added["privileged"]["suppressed"]["approved_by"] == "alice"
