"""What fix does with the image knowledge, through the CLI: exact files, output and exit codes.

Docker-in-Docker under its plain tags stays privileged; the IPsec server gets its documented
unprivileged set; a partly covered image is reported as inferred with what is and is not known; a
mode the sources cover completely is known; no-new-privileges is left out where it breaks helpers.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from leastcap.cli.main import cli
from support.cli import invoke_in

DIND_SOURCE = (
    "#   source: https://github.com/docker-library/docs/blob/c4a9ba41443427b2ec1d5c4cc01879076aa4a1eb/docker/"
    'content.md: "**Note:** `--privileged` is required for Docker-in-Docker to function properly, but it should '
    'be used with care as it provides full access to the host environment"'
)
DIND_TAGS = (
    "#   source: https://github.com/docker-library/docs/blob/c4a9ba41443427b2ec1d5c4cc01879076aa4a1eb/docker/"
    'README.md: "[`29.7.2-dind`, `29.7-dind`, `29-dind`, `dind`, `29.7.2-dind-alpine3.24`, `29.7.2`, `29.7`, '
    '`29`, `latest`, `29.7.2-alpine3.24`]"'
)
DIND_ADVICE = (
    "#   advice: keep privileged: true and record an exception in .leastcap.yml (justification, approved_by, "
    "expires), or move to a rootless Docker-in-Docker setup or a sandboxing runtime such as sysbox"
)


def run(cwd: Path, *args: str) -> Result:
    return invoke_in(cwd, "fix", *args)


def test_docker_plain_tags_are_dind_and_stay_privileged(tmp_path: Path) -> None:
    text = "services:\n" + "".join(
        f"  {name}:\n    image: {image}\n    privileged: true\n"
        for name, image in (("a", "docker:27"), ("b", "docker:latest"), ("c", "docker"))
    )
    (tmp_path / "compose.yaml").write_text(text)
    res = run(tmp_path, "--write")
    assert res.exit_code == 1, res.output
    expected: list[str] = []
    for name, image in (("a", "docker:27"), ("b", "docker:latest"), ("c", "docker")):
        expected += [
            f"# {tmp_path.name}/{name}: privileged: kept privileged",
            f"#   {image}: the image documentation says '--privileged is required for Docker-in-Docker to "
            "function properly'; the plain tags (docker, docker:latest, docker:27, docker:27.3.1) are the dind "
            "image [image knowledge: docker-dind]",
            DIND_ADVICE,
            DIND_SOURCE,
            DIND_TAGS,
        ]
    assert res.output.splitlines() == expected
    assert (tmp_path / "compose.yaml").read_text() == text


def test_docker_cli_tag_is_not_dind(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  c:\n    image: docker:27-cli\n    privileged: true\n")
    res = run(tmp_path)
    assert res.exit_code == 1
    assert res.output.splitlines()[0].endswith("(confidence: unknown; fix: unsafe, below --min-confidence inferred)")


def test_ipsec_server_gets_the_documented_unprivileged_set(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  vpn:\n    image: hwdsl2/ipsec-vpn-server:latest\n    privileged: true\n    restart: always\n"
    )
    res = run(tmp_path, "--write")
    assert res.exit_code == 0, res.output
    why = "  # IPsec VPN server without privileged mode"
    sysctls = [
        "net.ipv4.ip_forward=1", "net.ipv4.conf.all.accept_redirects=0", "net.ipv4.conf.all.send_redirects=0",
        "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.accept_redirects=0",
        "net.ipv4.conf.default.send_redirects=0", "net.ipv4.conf.default.rp_filter=0",
        "net.ipv6.conf.all.forwarding=1",
    ]  # fmt: skip
    assert (tmp_path / "compose.yaml").read_text() == (
        "services:\n  vpn:\n    image: hwdsl2/ipsec-vpn-server:latest\n"
        "    cap_add:\n      - NET_ADMIN" + why + " (image knowledge: ipsec-vpn-server)\n"
        "    security_opt:\n      - no-new-privileges:true\n"
        "    devices:\n      - /dev/ppp:/dev/ppp" + why + "\n"
        "    sysctls:\n" + "".join(f"      - {s}{why}\n" for s in sysctls) + "    restart: always\n"
    )
    assert (
        f"# {tmp_path.name}/vpn: privileged: cap_add NET_ADMIN on top of Docker's defaults (confidence: known; fix: needs-verification)"
        in (res.output.splitlines())
    )


def test_partly_covered_image_is_inferred_and_says_what_is_not_known(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  db:\n    image: postgres:16\n    privileged: true\n")
    res = run(tmp_path, "--write")
    assert res.exit_code == 0, res.output
    mine = "root entrypoint fixing PGDATA ownership, then gosu postgres (image knowledge: postgres)"
    rest = "Docker default, not covered by the image knowledge"
    assert (tmp_path / "compose.yaml").read_text() == (
        "services:\n  db:\n    image: postgres:16\n"
        "    cap_drop:\n      - ALL  # drop everything, add back only what is needed\n    cap_add:\n"
        + "".join(f"      - {c}  # {mine}\n" for c in ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"))
        + "".join(f"      - {c}  # {rest}\n" for c in (
            "FSETID", "MKNOD", "NET_RAW", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"))
        + "    security_opt:\n      - no-new-privileges:true\n"
    )  # fmt: skip
    lines = res.output.splitlines()
    head = lines.index(
        f"# {tmp_path.name}/db: privileged: cap_add CHOWN, DAC_OVERRIDE, FOWNER, SETUID, SETGID, FSETID, MKNOD, "
        "NET_RAW, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE (confidence: inferred; fix: needs-verification)"
    )
    assert lines[head + 2] == (
        "#   image knowledge (postgres, run as its default user) covers the root entrypoint: chmod and chown of "
        "$PGDATA (CHOWN, FOWNER, DAC_OVERRIDE to walk the 0700 directory) and gosu postgres (SETUID, SETGID); it "
        "does not cover what PostgreSQL needs beyond start-up: the maintainers say a minimal set is not something "
        "they test: kept Docker's default capabilities for the rest (confidence inferred); run `leastcap profile "
        "db --verify --minimize` to measure it"
    )


def test_completely_covered_non_root_mode_is_known(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        'services:\n  db:\n    image: postgres:16\n    user: "999:999"\n    privileged: true\n'
    )
    res = run(tmp_path, "--write")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "compose.yaml").read_text() == (
        'services:\n  db:\n    image: postgres:16\n    user: "999:999"\n'
        "    cap_drop:\n      - ALL  # drop everything, add back only what is needed\n"
        "    security_opt:\n      - no-new-privileges:true\n"
    )
    assert (
        f"# {tmp_path.name}/db: privileged: cap_add none (confidence: known; fix: needs-verification)"
        in res.output.splitlines()
    )


def test_file_capability_helpers_keep_no_new_privileges_out(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  ha:\n    image: lscr.io/linuxserver/homeassistant:latest\n    privileged: true\n"
        "  dns:\n    image: pihole/pihole:latest\n    privileged: true\n"
    )
    res = run(tmp_path, "--write")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "compose.yaml").read_text() == (
        "services:\n  ha:\n    image: lscr.io/linuxserver/homeassistant:latest\n"
        "  dns:\n    image: pihole/pihole:latest\n"
    )
    assert (
        "#   no-new-privileges left out: Home Assistant runs as user abc and gets its capabilities from file "
        "capabilities set on the python binary, which no-new-privileges ignores [image knowledge: "
        "linuxserver-homeassistant]"
    ) in res.output.splitlines()
    assert (
        "#   no-new-privileges left out: pihole-FTL runs as the pihole user and gets its capabilities from file "
        "capabilities (setcap), which no-new-privileges ignores [image knowledge: pihole]"
    ) in res.output.splitlines()


def test_a_known_answer_with_an_inferred_addition_is_inferred(tmp_path: Path) -> None:
    """falco's documented set is known, but this service's own entrypoint switches users: the
    capabilities that adds are inferred, so the whole answer is."""
    (tmp_path / "compose.yaml").write_text(
        "services:\n  falco:\n    image: falcosecurity/falco:0.39.0\n"
        '    entrypoint: ["su-exec", "root", "/usr/bin/falco"]\n    privileged: true\n'
    )
    res = run(tmp_path, "--write")
    assert res.exit_code == 0, res.output
    known = "modern eBPF probe (least privileged) (image knowledge: falco)"
    inferred = "entrypoint drops from root with su-exec (inferred from this service)"
    assert (tmp_path / "compose.yaml").read_text() == (
        "services:\n  falco:\n    image: falcosecurity/falco:0.39.0\n"
        '    entrypoint: ["su-exec", "root", "/usr/bin/falco"]\n'
        "    cap_drop:\n      - ALL  # drop everything, add back only what is needed\n    cap_add:\n"
        + "".join(f"      - {c}  # {known}\n" for c in ("SYS_ADMIN", "SYS_RESOURCE", "SYS_PTRACE"))
        + "".join(f"      - {c}  # {inferred}\n" for c in ("SETUID", "SETGID", "CHOWN"))
        + "    security_opt:\n      - no-new-privileges:true\n"
    )
    lines = res.output.splitlines()
    assert (
        f"# {tmp_path.name}/falco: privileged: cap_add SYS_ADMIN, SYS_RESOURCE, SYS_PTRACE, SETUID, SETGID, CHOWN "
        "(confidence: inferred; fix: needs-verification)"
    ) in lines
    assert "#   confidence lowered to inferred: part of the set is inferred from this service" in lines


def test_explain_image_shows_coverage_and_exclusions() -> None:
    res = CliRunner().invoke(cli, ["explain-image", "--no-inspect", "postgres:16"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[2:4] == [
        "run as its default user: partly known (inferred): the root entrypoint: chmod and chown of $PGDATA "
        "(CHOWN, FOWNER, DAC_OVERRIDE to walk the 0700 directory) and gosu postgres (SETUID, SETGID); not "
        "covered: what PostgreSQL needs beyond start-up: the maintainers say a minimal set is not something they "
        "test",
        "run as a non-root user (user:): complete (known), with all other capabilities dropped",
    ]
    res = CliRunner().invoke(cli, ["explain-image", "--no-inspect", "docker:27"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[:4] == [
        "Docker-in-Docker (the docker official image, dind tags) [family: docker-dind, built-in]",
        "patterns: docker.io/library/docker, */docker:*dind*, */library/docker",
        "except: docker.io/library/docker:*cli*, docker.io/library/docker:*windowsservercore*, "
        "*/library/docker:*cli*, */library/docker:*windowsservercore*",
        "privileged: REQUIRED: the image documentation says '--privileged is required for Docker-in-Docker to "
        "function properly'; the plain tags (docker, docker:latest, docker:27, docker:27.3.1) are the dind image",
    ]


def test_fix_all_spells_out_the_defaults_a_documented_set_rests_on(tmp_path: Path) -> None:
    """--all adds cap_drop: [ALL]; for a set documented on top of Docker's defaults the defaults are then
    written out beside it, so the service keeps exactly the documented set. A second run changes nothing."""
    (tmp_path / "compose.yaml").write_text(
        "services:\n  vpn:\n    image: qmcgaw/gluetun\n    cap_add:\n      - NET_ADMIN\n"
    )
    res = run(tmp_path, "--all", "--write")
    assert res.exit_code == 0, res.output
    kept = "  # Docker default, kept: the source adds to Docker's defaults\n"
    defaults = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
                "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")  # fmt: skip
    assert (tmp_path / "compose.yaml").read_text() == (
        "services:\n  vpn:\n    image: qmcgaw/gluetun\n    cap_add:\n      - NET_ADMIN\n"
        + "".join(f"      - {c}{kept}" for c in defaults)
        + "    cap_drop:\n      - ALL  # drop everything, add back only what is needed\n"
        "    security_opt:\n      - no-new-privileges:true\n"
        "    devices:\n      - /dev/net/tun:/dev/net/tun  # VPN tunnel\n"
    )
    assert (
        "#   image knowledge (gluetun) documents this set on top of Docker's default capabilities, so they are "
        "spelled out beside cap_drop: [ALL]; run `leastcap profile vpn --verify --minimize` to find a smaller set"
    ) in res.output.splitlines()
    again = run(tmp_path, "--all", "--write")
    assert (again.exit_code, again.output) == (0, "nothing to fix\n")


def test_a_documented_net_sysctl_is_not_written_for_a_service_on_the_host_network(tmp_path: Path) -> None:
    # runc refuses a net.* sysctl in the host's network namespace ("not allowed in host network
    # namespace"): written, the container would no longer start. It is said instead.
    (tmp_path / "compose.yaml").write_text(
        "services:\n  wg:\n    image: lscr.io/linuxserver/wireguard:latest\n    network_mode: host\n    privileged: true\n"
    )
    res = run(tmp_path, "--no-inspect")
    assert "+    sysctls:" not in res.output
    assert (
        "#   sysctls: net.ipv4.conf.all.src_valid_mark (client mode) is not written: the service uses the host's "
        "network namespace (network_mode: host), where no net.* sysctl can be set per container\n"
    ) in res.output
    assert res.exit_code == 0
