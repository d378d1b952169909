"""Re-checking quotes against the pinned files, with a real git repository as the mirror."""

from __future__ import annotations

import subprocess
from pathlib import Path

from leastcap.knowledge.image_knowledge import ImageEntry, entry_from_dict
from leastcap.knowledge.quotes import check_entries, mirror_reader, pinned, quote_found


def _git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _entry(url: str, quote: str, other: str) -> ImageEntry:
    return entry_from_dict(
        {
            "family": "demo", "title": "demo", "patterns": ["example.com/demo"], "coverage": {"root": {"complete": True}},
            "needs": [{"feature": "f", "default": True, "cap_add": ["NET_ADMIN"], "reason": "r",
                       "sources": [{"url": url, "quote": quote}, {"url": other, "quote": "an issue comment, unchecked"}]}],
        },
        "test",
    )  # fmt: skip


def test_quotes_are_found_in_the_pinned_file_and_a_changed_quote_is_not(tmp_path: Path) -> None:
    repo = tmp_path / "mirrors" / "acme+vpn" / "repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "README.md").write_text("Run it with:\n\n    docker run --cap-add=NET_ADMIN \\\n      acme/vpn\n")
    _git(repo, "add", "README.md")
    _git(repo, "commit", "-q", "-m", "docs")
    commit = _git(repo, "rev-parse", "HEAD").strip()
    url = f"https://github.com/acme/vpn/blob/{commit}/README.md"
    issue = "https://github.com/acme/vpn/issues/1"
    read = mirror_reader(tmp_path / "mirrors")

    good = check_entries([_entry(url, "docker run --cap-add=NET_ADMIN \\ acme/vpn", issue)], read)
    assert [(r.family, r.status) for r in good] == [("demo", "found"), ("demo", "not-checkable")]

    bad = check_entries([_entry(url, "docker run --privileged acme/vpn", issue)], read)
    assert [r.status for r in bad] == ["missing", "not-checkable"]

    # The file changed after the quote was taken: the pinned commit still answers.
    (repo / "README.md").write_text("Run it privileged.\n")
    _git(repo, "commit", "-q", "-am", "rewrite")
    assert [r.status for r in check_entries([_entry(url, "--cap-add=NET_ADMIN", issue)], read)] == [
        "found", "not-checkable",
    ]  # fmt: skip

    gone = f"https://github.com/acme/vpn/blob/{'0' * 40}/README.md"
    result = check_entries([_entry(gone, "docker run", issue)], read)[0]
    assert (result.status, result.detail) == ("unreadable", "no mirror of acme/vpn holds 000000000000:README.md")


def test_pinned_and_quote_found() -> None:
    where = pinned("https://github.com/a/b/blob/" + "f" * 40 + "/docs/x.md")
    assert where is not None and where.raw_url == "https://raw.githubusercontent.com/a/b/" + "f" * 40 + "/docs/x.md"
    assert pinned("https://github.com/a/b/blob/main/x.md") is None  # a branch is not a pin
    assert pinned("https://github.com/a/b/issues/3") is None
    assert quote_found("cap_add: - NET_ADMIN", "    cap_add:\n      - NET_ADMIN\n")
    assert not quote_found("cap_add: - NET_RAW", "    cap_add:\n      - NET_ADMIN\n")
