"""Timelines from real git repositories (exact events asserted)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from history_gitrepo import GitRepo

from leastcap.history import HistoryOptions, HistoryReport, run_history
from leastcap.history.evaluate import LoaderEvaluator

PRIV = "services:\n  web:\n    image: nginx\n    privileged: true\n"
PLAIN = "services:\n  web:\n    image: nginx\n"


class CountingCache(dict[bytes, Any]):
    def __init__(self) -> None:
        super().__init__()
        self.sets: dict[bytes, int] = {}

    def __setitem__(self, key: bytes, value: Any) -> None:
        self.sets[key] = self.sets.get(key, 0) + 1
        super().__setitem__(key, value)


def history(repo: GitRepo | Path, cache: dict[bytes, Any] | None = None, **kw: Any) -> HistoryReport:
    """The history of the ``privileged`` rule (or the rules given) with the real loader and rules."""
    path = repo.path if isinstance(repo, GitRepo) else repo
    kw.setdefault("rules", frozenset({"privileged"}))
    return run_history(HistoryOptions(path=str(path), **kw), LoaderEvaluator(cache=cache))


def compact(report: HistoryReport) -> dict[tuple[str, str, str, str], Any]:
    subjects = {}
    for t in report.timelines:
        for e in t.events:
            subjects[e.commit.oid] = e.commit.subject
    out = {}
    for t in report.timelines:
        events = []
        for e in t.events:
            item = [e.kind, e.commit.subject, e.path]
            if e.merged_from:
                item.append("merged")
            if e.boundary:
                item.append("boundary")
            if e.finding is not None and e.finding.suppressed is not None:
                item.append("suppressed")
            events.append(tuple(item))
        out[(t.path, t.service, t.rule, t.detail)] = (events, t.present_at_tip)
    return out


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


KEY = ("compose.yaml", "web", "privileged", "service 'web' runs privileged")


def test_add_remove_reintroduce(repo: GitRepo) -> None:
    repo.commit("init", {"compose.yaml": PLAIN, "README": "x"})
    repo.commit("make it privileged", {"compose.yaml": PRIV})
    repo.commit("unrelated", {"README": "y"})
    repo.commit("drop privileged", {"compose.yaml": PLAIN})
    repo.commit("bring it back", {"compose.yaml": PRIV.replace("image: nginx", "image: nginx:2")})
    report = history(repo)
    assert compact(report) == {
        KEY: (
            [
                ("introduced", "make it privileged", "compose.yaml"),
                ("removed", "drop privileged", "compose.yaml"),
                ("reintroduced", "bring it back", "compose.yaml"),
            ],
            True,
        )
    }
    assert report.commits_walked == 5
    # The README-only commit is never evaluated.
    assert report.commits_evaluated == 4
    intro = report.timelines[0].introduced
    assert intro is not None
    assert intro.commit.author == "Ada"
    assert intro.commit.date == "2024-01-01T00:00:07+00:00"


def test_line_moves_are_not_remove_and_add(repo: GitRepo) -> None:
    repo.commit("priv", {"compose.yaml": PRIV})
    repo.commit("move lines", {"compose.yaml": "# comment\n\n" + PRIV.replace("image: nginx\n    ", "")})
    assert compact(history(repo)) == {KEY: ([("introduced", "priv", "compose.yaml")], True)}


def test_rename_is_followed(repo: GitRepo) -> None:
    repo.commit("priv", {"docker-compose.yml": PRIV})
    repo.mv("docker-compose.yml", "compose.yaml", "rename")
    repo.mv("compose.yaml", "deploy/compose.yaml", "move to deploy/")
    repo.commit("drop", {"deploy/compose.yaml": PLAIN})
    report = history(repo)
    assert compact(report) == {
        ("deploy/compose.yaml", "web", "privileged", "service 'web' runs privileged"): (
            [("introduced", "priv", "docker-compose.yml"), ("removed", "drop", "deploy/compose.yaml")],
            False,
        )
    }
    assert report.timelines[0].paths == ("docker-compose.yml", "compose.yaml", "deploy/compose.yaml")
    assert report.compose_paths == ("compose.yaml", "deploy/compose.yaml", "docker-compose.yml")


def test_deleted_file(repo: GitRepo) -> None:
    repo.commit("priv", {"svc/compose.yaml": PRIV, "keep.txt": "k"})
    repo.commit("delete", {"svc/compose.yaml": None})
    assert compact(history(repo)) == {
        ("svc/compose.yaml", "web", "privileged", "service 'web' runs privileged"): (
            [("introduced", "priv", "svc/compose.yaml"), ("removed", "delete", "svc/compose.yaml")],
            False,
        )
    }


def test_override_file_adds_privileged(repo: GitRepo) -> None:
    repo.commit("base", {"compose.yaml": PLAIN})
    repo.commit("override", {"compose.override.yaml": "services:\n  web:\n    privileged: true\n"})
    repo.commit("drop override", {"compose.override.yaml": None})
    assert compact(history(repo)) == {
        KEY: (
            [("introduced", "override", "compose.yaml"), ("removed", "drop override", "compose.yaml")],
            False,
        )
    }


def test_extends_base_changed_later(repo: GitRepo) -> None:
    repo.commit(
        "extends",
        {
            "compose.yaml": ("services:\n  web:\n    extends:\n      file: common/base.yml\n      service: b\n"),
            "common/base.yml": "services:\n  b:\n    image: nginx\n",
        },
    )
    repo.commit(
        "base turns privileged",
        {"common/base.yml": "services:\n  b:\n    image: nginx\n    privileged: true\n"},
    )
    repo.commit("unrelated in common/", {"common/notes.txt": "n"})
    report = history(repo)
    assert compact(report) == {KEY: ([("introduced", "base turns privileged", "compose.yaml")], True)}
    # common/notes.txt is not something the project read: that commit was not evaluated.
    assert report.commits_evaluated == 2


def test_merge_from_two_branches(repo: GitRepo) -> None:
    repo.commit("init", {"compose.yaml": PLAIN, "b/compose.yaml": PLAIN})
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit("feature: priv in b", {"b/compose.yaml": PRIV})
    repo.git("checkout", "-q", "main")
    repo.commit("main: priv in root", {"compose.yaml": PRIV})
    repo.git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    repo.git("checkout", "-q", "-b", "fix", "HEAD")
    repo.commit("fix: drop priv in b", {"b/compose.yaml": PLAIN})
    repo.git("checkout", "-q", "main")
    repo.commit("main: unrelated", {"notes": "x"})
    repo.git("merge", "-q", "--no-ff", "-m", "merge fix", "fix")
    assert compact(history(repo)) == {
        KEY: ([("introduced", "main: priv in root", "compose.yaml")], True),
        ("b/compose.yaml", "web", "privileged", "service 'web' runs privileged"): (
            [
                ("introduced", "feature: priv in b", "b/compose.yaml"),
                ("reintroduced", "merge feature", "b/compose.yaml", "merged"),
                ("removed", "fix: drop priv in b", "b/compose.yaml"),
                ("removed", "merge fix", "b/compose.yaml", "merged"),
            ],
            False,
        ),
    }


def test_shallow_clone(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("priv", {"compose.yaml": PRIV})
    repo.commit("cap", {"compose.yaml": PRIV + "    cap_add: [NET_ADMIN]\n"})
    repo.commit("drop priv", {"compose.yaml": PLAIN + "    cap_add: [NET_ADMIN]\n"})
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "2", f"file://{repo.path}", str(clone)],
        check=True,
        capture_output=True,
    )
    report = history(clone, rules=frozenset({"privileged", "dangerous-capability"}))
    assert compact(report) == {
        ("compose.yaml", "web", "dangerous-capability", "capability=CAP_NET_ADMIN"): (
            [("introduced", "cap", "compose.yaml", "boundary")],
            True,
        ),
        KEY: (
            [("introduced", "cap", "compose.yaml", "boundary"), ("removed", "drop priv", "compose.yaml")],
            False,
        ),
    }
    assert report.shallow
    assert [w.message for w in report.warnings] == [
        f"shallow clone: history before {report.timelines[0].events[0].commit.short} is not available; "
        "findings present there are reported as introduced at or before that commit"
    ]


def test_since_window_starts_with_present_findings(repo: GitRepo) -> None:
    repo.commit("priv", {"compose.yaml": PRIV})  # 00:00:03
    for i in range(70):  # one commit a second: "empty i" is dated 00:00:05 + i
        repo.git("commit", "-q", "--allow-empty", "-m", f"empty {i}")
    repo.commit("drop", {"compose.yaml": PLAIN})
    report = history(repo, since="2024-01-01T00:00:40+00:00")
    ((events, tip),) = compact(report).values()
    # The window starts at "empty 35"; its parent is evaluated as the starting point.
    assert events == [
        ("introduced", "empty 34", "compose.yaml", "boundary"),
        ("removed", "drop", "compose.yaml"),
    ]
    assert not tip


def test_same_blob_parsed_once(repo: GitRepo) -> None:
    for i in range(30):
        repo.commit(f"flip {i}", {"compose.yaml": PRIV if i % 2 else PLAIN})
    cache = CountingCache()
    report = history(repo, cache)
    assert len(cache.sets) == 2
    assert all(n == 1 for n in cache.sets.values())
    ((events, tip),) = compact(report).values()
    assert [e[0] for e in events] == ["introduced"] + ["removed", "reintroduced"] * 14
    assert tip


def test_suppressed_by_exception_at_the_time(repo: GitRepo) -> None:
    repo.commit("priv", {"compose.yaml": PRIV})
    cfg = (
        "exceptions:\n  - rule: privileged\n    service: web\n    justification: needs /dev/kvm for VM tests\n"
        "    approved_by: security@example.com\n    expires: '2030-01-01'\n"
    )
    repo.commit("exception", {".leastcap.yml": cfg})
    repo.commit("drop exception", {".leastcap.yml": None})
    assert compact(history(repo)) == {
        KEY: (
            [
                ("introduced", "priv", "compose.yaml"),
                ("suppressed", "exception", "compose.yaml", "suppressed"),
                ("unsuppressed", "drop exception", "compose.yaml"),
            ],
            True,
        )
    }


def test_rule_filter(repo: GitRepo) -> None:
    repo.commit("both", {"compose.yaml": PRIV + "    cap_add: [SYS_ADMIN]\n"})
    assert list(compact(history(repo, rules=frozenset({"dangerous-capability"})))) == [
        ("compose.yaml", "web", "dangerous-capability", "capability=CAP_SYS_ADMIN")
    ]


def test_partitions_give_the_same_history(repo: GitRepo) -> None:
    """Forked partition walks merge to exactly the single walk's report (all rules, many dirs,
    renames across directories, merges, suppression, load errors)."""
    from leastcap.history.render import report_dict

    repo.commit("init", {f"d{i}/compose.yaml": PLAIN for i in range(6)})
    repo.commit("priv d0 d1", {"d0/compose.yaml": PRIV, "d1/compose.yaml": PRIV + "    cap_add: [SYS_ADMIN]\n"})
    repo.git("checkout", "-q", "-b", "side")
    repo.mv("d0/compose.yaml", "d5/sub/compose.yaml", "move d0 into d5/sub")
    repo.commit("side: break d2", {"d2/compose.yaml": "services: [\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("main: priv d3", {"d3/compose.yaml": PRIV})
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    cfg = (
        "exceptions:\n  - rule: privileged\n    service: web\n    justification: needs /dev/kvm for VM tests\n"
        "    approved_by: security@example.com\n    expires: '2030-01-01'\n"
    )
    repo.commit("accept", {".leastcap.yml": cfg})
    repo.mv("d1/compose.yaml", "d6/compose.yaml", "move d1 to d6")
    reports = [
        report_dict(run_history(HistoryOptions(path=str(repo.path), jobs=jobs), LoaderEvaluator()))
        for jobs in (1, 2, 3)
    ]
    assert reports[0]["summary"]["findings"] > 10
    assert reports[1] == reports[0]
    assert reports[2] == reports[0]
    # Also when the window starts inside the branch (parents outside the walk, from scratch).
    since = "2024-01-01T00:00:25+00:00"
    windowed = [
        report_dict(run_history(HistoryOptions(path=str(repo.path), jobs=jobs, since=since), LoaderEvaluator()))
        for jobs in (1, 3)
    ]
    assert any(e["boundary"] for f in windowed[0]["findings"] for e in f["events"])
    assert windowed[1] == windowed[0]


def test_env_file_and_include_target_changes(repo: GitRepo) -> None:
    repo.commit(
        "variable privileged, off",
        {
            "compose.yaml": "include:\n  - lib/db.yml\nservices:\n  web:\n    image: nginx\n    privileged: ${PRIV:-false}\n",
            "lib/db.yml": "services:\n  db:\n    image: postgres\n",
        },
    )
    repo.commit(".env turns it on", {".env": "PRIV=true\n"})
    repo.commit(
        "included file adds a privileged service",
        {"lib/db.yml": "services:\n  db:\n    image: postgres\n    privileged: true\n"},
    )
    repo.commit("unrelated in lib/", {"lib/README": "r"})
    repo.commit(".env removed", {".env": None})
    report = history(repo)
    assert compact(report) == {
        KEY: ([("introduced", ".env turns it on", "compose.yaml"), ("removed", ".env removed", "compose.yaml")], False),
        ("compose.yaml", "db", "privileged", "service 'db' runs privileged"): (
            [("introduced", "included file adds a privileged service", "compose.yaml")],
            True,
        ),
    }
    assert report.commits_evaluated == 4  # not the lib/README commit


def test_exception_expiry_is_judged_at_each_commit(repo: GitRepo) -> None:
    # The helper's commits are dated 2024-01-01; an exception that expired the day before does not
    # suppress anything then, even though a scan today would say the same for a later date.
    cfg = (
        "exceptions:\n  - rule: privileged\n    service: web\n    justification: needs /dev/kvm for VM tests\n"
        "    approved_by: security@example.com\n    expires: '{date}'\n"
    )
    repo.commit("priv", {"compose.yaml": PRIV, ".leastcap.yml": cfg.format(date="2023-12-31")})
    repo.commit("extend the exception", {".leastcap.yml": cfg.format(date="2024-01-01")})
    assert compact(history(repo)) == {
        KEY: (
            [
                ("introduced", "priv", "compose.yaml"),
                ("suppressed", "extend the exception", "compose.yaml", "suppressed"),
            ],
            True,
        )
    }


def test_inline_ignore_and_leastcapignore(repo: GitRepo) -> None:
    repo.commit("priv", {"compose.yaml": PRIV, "vendor/compose.yaml": PRIV})
    repo.commit(
        "inline ignore",
        {
            "compose.yaml": PRIV.replace(
                "privileged: true", "privileged: true  # leastcap: ignore[privileged] kvm for VM tests"
            )
        },
    )
    repo.commit("ignore vendor/", {".leastcapignore": "vendor/\n"})
    assert compact(history(repo)) == {
        KEY: (
            [("introduced", "priv", "compose.yaml"), ("suppressed", "inline ignore", "compose.yaml", "suppressed")],
            True,
        ),
        ("vendor/compose.yaml", "web", "privileged", "service 'web' runs privileged"): (
            [("introduced", "priv", "vendor/compose.yaml"), ("removed", "ignore vendor/", "vendor/compose.yaml")],
            False,
        ),
    }


def test_merges_and_reverts_recall_earlier_evaluations(repo: GitRepo) -> None:
    repo.commit("init", {"compose.yaml": PLAIN})
    for i in range(3):
        repo.git("checkout", "-q", "-b", f"pr{i}")
        repo.commit(f"pr{i}: priv", {"compose.yaml": PRIV})
        repo.commit(f"pr{i}: revert", {"compose.yaml": PLAIN + f"    # pr {i}\n"})
        repo.git("checkout", "-q", "main")
        repo.git("merge", "-q", "--no-ff", "-m", f"merge pr{i}", f"pr{i}")
    report = history(repo)
    stats = dict(report.stats)
    # init + 3 x (priv, revert); each merge brings a version already evaluated on its branch, and
    # "pr1: priv" / "pr2: priv" have the same content as "pr0: priv".
    assert (stats["directory_evaluations"], stats["directory_evaluations_recalled"]) == (5, 5)
    ((events, tip),) = compact(report).values()
    assert events == [
        ("introduced", "pr0: priv", "compose.yaml"),
        ("removed", "pr0: revert", "compose.yaml"),
        ("reintroduced", "pr1: priv", "compose.yaml"),
        ("removed", "pr1: revert", "compose.yaml"),
        ("reintroduced", "pr2: priv", "compose.yaml"),
        ("removed", "pr2: revert", "compose.yaml"),
    ]
    assert not tip


def test_missing_object_is_reported_not_fatal(repo: GitRepo) -> None:
    import os

    priv = repo.commit("priv", {"compose.yaml": PRIV})
    first = repo.git("rev-parse", "HEAD:compose.yaml").strip()
    repo.commit("edit", {"compose.yaml": PRIV.replace("nginx", "nginx:1")})
    repo.commit("drop", {"compose.yaml": PLAIN})
    os.remove(repo.path / ".git" / "objects" / first[:2] / first[2:])
    report = history(repo)
    # The first version cannot be read: nothing is known there; the second version has the finding.
    assert compact(report) == {
        KEY: ([("introduced", "edit", "compose.yaml"), ("removed", "drop", "compose.yaml")], False)
    }
    assert [(w.path, w.message) for w in report.warnings] == [
        (
            "compose.yaml",
            f"at commit {priv[:7]}: cannot read compose.yaml: object {first} is missing from the repository",
        ),
        (".", "1 object(s) referenced by the history are missing"),
    ]
