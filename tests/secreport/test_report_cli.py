"""`leastcap report` through the CLI on a real git repository made here: golden Markdown byte for
byte, JSON and --previous, --audit, HTML structure, and the HTML in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from history.history_gitrepo import GitRepo
from support.cli import invoke_in
from support.components import REPO_ROOT, require
from support.golden import check_golden

GOLDEN = Path(__file__).parent / "golden"
# 2027-01-01: a fixed "today" (SOURCE_DATE_EPOCH), so days left and the date are stable.
EPOCH = "1798761600"

FIRST = """\
services:
  vpn:
    image: lscr.io/linuxserver/wireguard:1.0
    privileged: true
  agent:
    image: example/agent:2
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
"""

SECOND = """\
services:
  vpn:
    image: lscr.io/linuxserver/wireguard:1.0
    cap_drop: [ALL]
    cap_add:
      - NET_ADMIN  # creates and routes the wg0 interface
    security_opt: [no-new-privileges:true]
  agent:
    image: example/agent:2
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
  backup:
    image: "<img src=x onerror=alert(1)>"
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true, "seccomp:unconfined"]
    devices:
      - /dev/sda:/dev/sda:r
"""

CONFIG = """\
exceptions:
  - rule: docker-socket
    service: agent
    justification: reads container labels until the socket proxy is deployed
    approved_by: alice
    expires: 2027-01-20
    ticket: SEC-7
  - rule: privileged
    service: vpn
    justification: the wireguard module is loaded on the host by the image
    approved_by: bob
    expires: 2026-12-01
  - rule: host-namespace
    service: monitor
    justification: the node exporter reads host network counters
    approved_by: carol
    expires: 2099-12-31
  - rule: privileged
    service: dind
    justification: todo
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo(tmp_path / "shop")
    r.commit("vpn and agent", {"compose.yaml": FIRST, ".leastcap.yml": CONFIG})
    r.commit("vpn: two capabilities instead of privileged; backup", {"compose.yaml": SECOND})
    return r


def _report(cwd: Path, *args: str) -> tuple[int, str, str]:
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    try:
        result = invoke_in(cwd, "report", *args)
    finally:
        if old is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old
    return result.exit_code, result.stdout, result.stderr


def test_markdown_golden(repo: GitRepo) -> None:
    code, out, err = _report(repo.path, ".")
    assert code == 0, err
    check_golden(GOLDEN / "shop.md", out)


def test_json_previous_and_audit(repo: GitRepo, tmp_path: Path) -> None:
    code, out, _ = _report(repo.path, ".", "--format", "json", "-o", str(tmp_path / "before.json"))
    assert code == 0
    before = json.loads((tmp_path / "before.json").read_text())
    assert before["kind"] == "leastcap-report"
    assert before["summary"]["services"] == 3
    assert {f["rule"] for f in before["findings"]} >= {"dangerous-capability", "docker-socket", "host-device"}
    # the change: backup loses its device, web appears with the host's network
    (repo.path / "compose.yaml").write_text(
        SECOND.replace("    devices:\n      - /dev/sda:/dev/sda:r\n", "")
        + "  web:\n    image: nginx\n    network_mode: host\n"
    )
    audit = tmp_path / "audit.json"
    audit.write_text(
        json.dumps(
            {
                "version": 1,
                "findings": [
                    {
                        "rule": "drift",
                        "severity": "high",
                        "project": "shop",
                        "service": "vpn",
                        "message": "container shop-vpn-1 runs privileged; compose.yaml does not set privileged",
                    },
                    {"rule": "privileged", "severity": "critical", "project": "shop", "service": "vpn", "message": "x"},
                ],
            }
        )
    )
    code, out, _ = _report(
        repo.path,
        ".",
        "--format",
        "json",
        "--previous",
        str(tmp_path / "before.json"),
        "--audit",
        str(audit),
        "--no-history",
    )
    assert code == 0
    after = json.loads(out)
    assert after["history"] is None
    assert after["drift"] == [
        {
            "container": "shop",
            "service": "vpn",
            "severity": "high",
            "message": "container shop-vpn-1 runs privileged; compose.yaml does not set privileged",
        }
    ]
    changes = [(c["change"], c["rule"], c["service"]) for c in after["changes"]]
    assert changes == [
        ("new", "host-namespace", "web"),
        ("new", "missing-cap-drop", "web"),
        ("new", "no-new-privileges", "web"),
        ("removed", "host-device", "backup"),
    ]


@pytest.mark.parametrize("name", ["fifo", "garbage", "other-json"])
def test_hostile_previous_is_a_clean_error(repo: GitRepo, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name == "fifo":
        os.mkfifo(path)
    elif name == "garbage":
        path.write_text("{" * 50_000)
    else:
        path.write_text('{"version": 1, "findings": []}')
    code, out, _ = _report(repo.path, ".", "--format", "json", "--previous", str(path), "--no-history")
    assert code == 2
    document = json.loads(out)
    assert len(document["errors"]) == 1
    assert document["changes"] == []
    assert len(document["services"]) == 3  # the rest of the report is there


def _html(repo: GitRepo) -> str:
    code, out, _ = _report(repo.path, ".", "--format", "html")
    assert code == 0
    return out


def test_html_is_self_contained(repo: GitRepo) -> None:
    page = _html(repo)
    assert page.startswith("<!DOCTYPE html>\n")
    assert "default-src 'none'" in page
    assert "<script" not in page.lower()
    assert "@import" not in page and "url(" not in page
    # no tag with an attribute that loads anything (the hostile image name is escaped text, no tag)
    tags = re.findall(r"<[a-zA-Z][^>]*>", page)
    assert [t for t in tags if re.search(r"\s(?:src|href|srcset|action|data|poster|xlink:href)\s*=", t)] == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count("<svg ") == 2
    # the history chart: one point per commit, services with a high or critical finding after it
    history_chart = page[page.index('id="chart-history"') :]
    points = re.findall(r"<circle [^>]*><title>([0-9a-f]{7}) 2024-01-01: (\d+) service\(s\)</title>", history_chart)
    assert [n for _, n in points] == ["2", "3"]
    for table in ("services", "capabilities", "exceptions", "threat-1", "threat-2", "history-table"):
        assert f'<table id="{table}">' in page


def _png_colours(data: bytes) -> int:
    """Distinct colours of an 8-bit RGB(A) PNG (Chromium's screenshots), decoded here with zlib."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
            assert body[8] == 8 and body[9] in (2, 6), "8-bit RGB or RGBA"
            channels = 3 if body[9] == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    colours: set[bytes] = set()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, up_left = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
        colours.update(bytes(line[i : i + 3]) for i in range(0, stride, channels * 7))
        previous = line
    return len(colours)


# Requests Chromium makes on its own (time, accounts, component updates), never the page's.
_BROWSER_OWN = re.compile(r"^https?://([a-z0-9-]+\.)*(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)/")


def test_html_in_headless_chromium(repo: GitRepo, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    require(chromium is not None, "Debian's chromium (scripts/setup-components installs it)")
    assert chromium is not None
    page = tmp_path / "report.html"
    page.write_text(_html(repo))
    flags = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,2000",
    ]
    shot, netlog = tmp_path / "shot.png", tmp_path / "net.json"
    for args in ([f"--screenshot={shot}", f"--log-net-log={netlog}"], ["--dump-dom"]):
        profile = tmp_path / f"profile-{len(args)}"
        proc = subprocess.run(
            [*flags, f"--user-data-dir={profile}", *args, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        if "--dump-dom" in args:
            dom = proc.stdout
    assert _png_colours(shot.read_bytes()) >= 8  # text, tables, the charts' colours: not a blank page
    for table in ("services", "capabilities", "exceptions", "threat-1", "threat-2", "history-table"):
        assert f'<table id="{table}">' in dom
    assert dom.count("<rect ") >= 5  # the severity chart's bars and legend were parsed as SVG
    assert "<script" not in dom
    log = json.loads(netlog.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    urls = {
        str(e["params"]["url"])
        for e in log["events"]
        if names.get(e["type"]) == "URL_REQUEST_START_JOB" and "url" in e.get("params", {})
    }
    page_requests = {u for u in urls if not _BROWSER_OWN.match(u)}
    assert page_requests <= {page.as_uri()}


def test_examples_report_is_current() -> None:
    """examples/REPORT.md is `leastcap report examples --no-history` (SOURCE_DATE_EPOCH 2027-01-01)."""
    code, out, _ = _report(REPO_ROOT, "examples", "--no-history")
    assert code == 0
    check_golden(REPO_ROOT / "examples" / "REPORT.md", out)


def test_profile_evidence_is_a_rationale(repo: GitRepo, tmp_path: Path) -> None:
    """A profile written by the profile module's own writer: its evidence becomes the rationale of
    the capability, and the summary counts it as verified."""
    from leastcap.profile.format import REQUIRED, CapabilityEvidence, Profile, Recording, write_profile

    recording = Recording(
        mode="compose",
        source="tracepoint",
        kernel="6.18.44",
        duration_seconds=30.0,
        privileged=True,
        granted=("NET_ADMIN",),
        unavailable=(),
        events=12,
        lost_events=0,
    )
    profile = Profile(
        version=1,
        compose_files=(str(repo.path / "compose.yaml"),),
        project="shop",
        service="vpn",
        image="lscr.io/linuxserver/wireguard:1.0",
        cap_add=("NET_ADMIN",),
        devices=(),
        sysctls={},
        security_opt=(),
        evidence=(CapabilityEvidence("NET_ADMIN", REQUIRED, "ip link add wg0 type wireguard", granted=12),),
        verified=True,
        minimized=True,
        recording=recording,
    )
    (tmp_path / "profiles").mkdir()
    write_profile(profile, tmp_path / "profiles" / "shop-vpn.json")
    (tmp_path / "profiles" / "broken.json").write_text("{}")
    code, out, _ = _report(repo.path, ".", "--format", "json", "--no-history", "--profiles", str(tmp_path / "profiles"))
    assert code == 0
    document = json.loads(out)
    vpn = [c for c in document["capabilities"] if c["service"] == "vpn"]
    assert [(c["capability"], [r["source"] for r in c["rationales"]]) for c in vpn] == [
        ("NET_ADMIN", ["profile", "knowledge base", "compose comment"])
    ]
    assert vpn[0]["rationales"][0]["text"] == (
        f"{REQUIRED}: ip link add wg0 type wireguard (granted 12, denied 0; verified)"
    )
    assert (document["summary"]["profiles_verified"], document["summary"]["profiles"]) == (1, 1)
    assert [w["path"].endswith("broken.json") for w in document["warnings"]] == [True]


def test_outside_git_no_history_and_output_file(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(FIRST)
    (tmp_path / "link.md").symlink_to(tmp_path / "victim.md")
    code, _, err = _report(tmp_path, ".", "-o", "link.md")
    assert code == 2
    assert err == "leastcap report: cannot write link.md: Too many levels of symbolic links\n"
    assert not (tmp_path / "victim.md").exists()
    code, out, _ = _report(tmp_path, ".", "-o", "report.md")
    assert (code, out) == (0, "")
    text = (tmp_path / "report.md").read_text()
    assert "## History\n\nNot in a git repository, or not asked for (`--no-history`).\n" in text
    assert f"| `{tmp_path.name}/vpn` | `lscr.io/linuxserver/wireguard:1.0` | **yes** |" in text


CAPABILITIES = """\
services:
  admin:
    image: example/admin:1
    cap_add: [SYS_ADMIN]
  loader:
    image: example/loader:1
    cap_add: [CAP_SYS_MODULE]
  tracer:
    image: example/tracer:1
    pid: host
    cap_add: [sys_ptrace]
"""


def test_added_capabilities_are_open_threat_paths(tmp_path: Path) -> None:
    # The rule names a capability CAP_SYS_ADMIN whatever the file wrote; the threat model must still
    # see it (it showed these paths "closed" while the services held them).
    (tmp_path / "caps").mkdir()
    (tmp_path / "caps" / "compose.yaml").write_text(CAPABILITIES)
    code, out, _ = _report(tmp_path / "caps", ".", "--format", "json", "--no-history")
    assert code == 0
    document = json.loads(out)
    paths = {
        (t["title"], p["title"]): (p["status"], [e["service"] for e in p["exposures"]])
        for t in document["threats"]
        for p in t["paths"]
    }
    assert paths[("Container escape", "SYS_ADMIN")] == ("open", ["admin"])
    assert paths[("Container escape", "SYS_MODULE")] == ("open", ["loader"])
    assert paths[("Host system compromise", "SYS_MODULE")] == ("open", ["loader"])
    assert paths[("Host system compromise", "SYS_PTRACE with the host's PID namespace")] == ("open", ["tracer"])
    assert paths[("Container escape", "host namespaces")] == ("open", ["tracer"])


def test_summary_counts_every_expired_exception(tmp_path: Path) -> None:
    # An expired exception that is also not honoured (its approver is not on the list) is still
    # expired: the summary said "0 expired" beside a register that flags it.
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "compose.yaml").write_text(FIRST)
    (tmp_path / "app" / ".leastcap.yml").write_text("""\
approvers: [alice]
exceptions:
  - rule: privileged
    service: vpn
    justification: the wireguard module is loaded on the host by the image
    approved_by: mallory
    expires: 2026-12-01
  - rule: docker-socket
    service: agent
    justification: reads container labels until the socket proxy is deployed
    approved_by: alice
    expires: 2027-01-20
""")
    code, out, _ = _report(tmp_path / "app", ".", "--format", "json", "--no-history")
    assert code == 0
    document = json.loads(out)
    assert [e["flags"][0] for e in document["exceptions"]] == ["expired", "expires within 30 days"]
    summary = document["summary"]
    assert (summary["exceptions_active"], summary["exceptions_expiring"], summary["exceptions_expired"]) == (1, 1, 1)


def test_history_says_which_privilege(tmp_path: Path) -> None:
    # Two capabilities of one service are two rows; each must say which capability it is about.
    r = GitRepo(tmp_path / "caps")
    r.commit("admin", {"compose.yaml": "services:\n  a:\n    image: x\n    cap_add: [SYS_ADMIN]\n"})
    r.commit("and module", {"compose.yaml": "services:\n  a:\n    image: x\n    cap_add: [SYS_ADMIN, SYS_MODULE]\n"})
    code, out, _ = _report(r.path, ".", "--format", "json")
    assert code == 0
    rows = [(h["rule"], h["detail"]) for h in json.loads(out)["history"]["rows"] if h["rule"] == "dangerous-capability"]
    assert sorted(rows) == [
        ("dangerous-capability", "capability=CAP_SYS_ADMIN"),
        ("dangerous-capability", "capability=CAP_SYS_MODULE"),
    ]
    code, out, _ = _report(r.path, ".")
    assert "| `dangerous-capability` | `capability=CAP_SYS_MODULE` | `a` | `compose.yaml` |" in out


NNP = """\
services:
  one: {image: x, security_opt: ["no-new-privileges=1"]}
  zero: {image: x, security_opt: ["no-new-privileges=0"]}
  last: {image: x, security_opt: ["no-new-privileges:true", "no-new-privileges:false"]}
  bare: {image: x, security_opt: ["no-new-privileges"]}
  refused: {image: x, security_opt: ["no-new-privileges=yes"]}
"""


def test_no_new_privileges_column_reads_security_opt_as_the_rule_does(tmp_path: Path) -> None:
    # The report parsed security_opt on its own: "=1" was "no" and the first of two options won,
    # beside a no-new-privileges rule (leastcap.semantics) that read them the daemon's way.
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "compose.yaml").write_text(NNP)
    code, out, _ = _report(tmp_path / "app", ".", "--format", "json", "--no-history")
    assert code == 0
    rows = {row["service"]: row["no_new_privileges"] for row in json.loads(out)["services"]}
    assert rows == {"one": True, "zero": False, "last": False, "bare": True, "refused": False}
