"""`leastcap fix` with what the image's own files say: the image is built here and is on the local
engine, so fix reads it (never runs it) and every capability it adds names the file and line."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from imagetar import SERVICE, build_tar

from support.cli import invoke_in
from support.components import require_docker

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def images() -> Iterator[dict[str, str]]:
    """The service image under a name nothing knows, and under nginx's name (the knowledge base
    knows nginx, but not what this image's start-up does)."""
    require_docker()
    suffix = uuid.uuid4().hex[:8]
    tags = {"unknown": f"leastcap-test/imagefacts-fix-{suffix}:1", "nginx": f"nginx:leastcap-imagefacts-{suffix}"}
    subprocess.run(
        ["docker", "import", "-c", 'ENTRYPOINT ["docker-entrypoint.sh"]', "-c", 'CMD ["server"]', "-", tags["unknown"]],
        input=build_tar(SERVICE), check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(["docker", "tag", tags["unknown"], tags["nginx"]], check=True, capture_output=True)
    yield tags
    subprocess.run(["docker", "image", "rm", "-f", *tags.values()], check=False, capture_output=True)


KNOWLEDGE = """\
images:
  - family: example-service
    title: the example service image
    patterns: ["leastcap-test/imagefacts-fix-*"]
    coverage: {root: {complete: true}}
    needs:
      - feature: data directory owned by the app user
        default: true
        cap_add: [CHOWN]
        reason: chowns /data at start-up
        sources:
          - url: https://example.invalid/service/docs
            quote: "The entrypoint runs chown on /data and needs no other capability."
"""


def fix(tmp_path: Path, image: str, *args: str, knowledge: bool = False) -> tuple[int, str]:
    (tmp_path / "compose.yaml").write_text(f"services:\n  app:\n    image: {image}\n    privileged: true\n")
    if knowledge:
        (tmp_path / ".leastcap.yml").write_text(KNOWLEDGE)
    result = invoke_in(tmp_path, "fix", *args)
    return result.exit_code, result.output


def normalised(out: str, tmp_path: Path) -> str:
    """The output with the test's own names made stable: the image tag's random part, the project."""
    out = re.sub(r"imagefacts-fix-[0-9a-f]{8}", "imagefacts-fix-SUFFIX", out)
    return out.replace(f"# {tmp_path.name}/app:", "# PROJECT/app:")


def test_an_unknown_image_gets_its_start_up_needs_with_file_and_line(tmp_path: Path, images: dict[str, str]) -> None:
    code, out = fix(tmp_path, images["unknown"], "--min-confidence", "unknown")
    assert normalised(out, tmp_path) == (
        "--- a/compose.yaml\n"
        "+++ b/compose.yaml\n"
        "@@ -1,4 +1,23 @@\n"
        " services:\n"
        "   app:\n"
        "     image: leastcap-test/imagefacts-fix-SUFFIX:1\n"
        "-    privileged: true\n"
        "+    cap_drop:\n"
        "+      - ALL  # drop everything, add back only what is needed\n"
        "+    cap_add:\n"
        "+      - CHOWN  # Docker default, not yet verified\n"
        "+      - DAC_OVERRIDE  # Docker default, not yet verified\n"
        "+      - FSETID  # Docker default, not yet verified\n"
        "+      - FOWNER  # Docker default, not yet verified\n"
        "+      - MKNOD  # Docker default, not yet verified\n"
        "+      - NET_RAW  # Docker default, not yet verified\n"
        "+      - SETGID  # Docker default, not yet verified\n"
        "+      - SETUID  # Docker default, not yet verified\n"
        "+      - SETFCAP  # Docker default, not yet verified\n"
        "+      - SETPCAP  # Docker default, not yet verified\n"
        "+      - NET_BIND_SERVICE  # Docker default, not yet verified\n"
        "+      - SYS_CHROOT  # Docker default, not yet verified\n"
        "+      - KILL  # Docker default, not yet verified\n"
        "+      - AUDIT_WRITE  # Docker default, not yet verified\n"
        "+      - NET_ADMIN  # ip link set dev eth0 mtu 1400 (read from the image: /usr/local/bin/docker-entrypoint.sh:7)\n"
        "+    sysctls:\n"
        "+      - net.ipv4.ip_forward=1  # written at start-up (/usr/local/bin/docker-entrypoint.sh:11)\n"
        "# PROJECT/app: privileged: cap_add CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE, NET_ADMIN (confidence: unknown; fix: unsafe)\n"
        "#   nothing is known about leastcap-test/imagefacts-fix-SUFFIX:1: kept Docker's default capabilities explicitly; run `leastcap profile app --verify --minimize` to measure the minimal set\n"
        "#   the image's start-up at /usr/local/bin/docker-entrypoint.sh:12 (echo 1 > /proc/sys/kernel/randomize_va_space): it is not namespaced: no container can set it through sysctls:, and a privileged one changes it for the whole host; set it on the host (sysctl -w, /etc/sysctl.d) if the service needs it\n"
        "#   the image's start-up at /docker-entrypoint.d/20-wg.sh:2 (modprobe wireguard): loads a kernel module: load it on the host; SYS_MODULE would let the container load any module\n"
        "#   privileged also gave every host device and disabled seccomp and AppArmor; if the service uses a host device, list it under devices:\n"
        "#   no-new-privileges left out: the image has /usr/local/bin/docker-entrypoint.sh:14 (setcap cap_net_bind_service=+ep /usr/local/bin/server): no-new-privileges makes the kernel ignore the file capabilities it sets\n"
    )
    assert code == 0


def test_image_facts_lower_a_known_answer_they_contradict(tmp_path: Path, images: dict[str, str]) -> None:
    code, out = fix(tmp_path, images["unknown"], knowledge=True)
    assert normalised(out, tmp_path) == (
        "--- a/compose.yaml\n"
        "+++ b/compose.yaml\n"
        "@@ -1,4 +1,16 @@\n"
        " services:\n"
        "   app:\n"
        "     image: leastcap-test/imagefacts-fix-SUFFIX:1\n"
        "-    privileged: true\n"
        "+    cap_drop:\n"
        "+      - ALL  # drop everything, add back only what is needed\n"
        "+    cap_add:\n"
        "+      - CHOWN  # data directory owned by the app user (image knowledge: example-service)\n"
        "+      - NET_ADMIN  # ip link set dev eth0 mtu 1400 (read from the image: /usr/local/bin/docker-entrypoint.sh:7)\n"
        "+      - NET_RAW  # iptables -t nat -A POSTROUTING -j MASQUERADE (read from the image: /usr/local/bin/docker-entrypoint.sh:8)\n"
        "+      - SETFCAP  # setcap cap_net_bind_service=+ep /usr/local/bin/server (read from the image: /usr/local/bin/docker-entrypoint.sh:14)\n"
        "+      - NET_BIND_SERVICE  # setcap cap_net_bind_service=+ep /usr/local/bin/server (read from the image: /usr/local/bin/docker-entrypoint.sh:14)\n"
        '+      - SETUID  # exec gosu app "$@" (read from the image: /usr/local/bin/docker-entrypoint.sh:15)\n'
        '+      - SETGID  # exec gosu app "$@" (read from the image: /usr/local/bin/docker-entrypoint.sh:15)\n'
        "+      - MKNOD  # mknod /dev/net/tun c 10 200 (read from the image: /docker-entrypoint.d/10-tun.sh:1)\n"
        "+    sysctls:\n"
        "+      - net.ipv4.ip_forward=1  # written at start-up (/usr/local/bin/docker-entrypoint.sh:11)\n"
        "# PROJECT/app: privileged: cap_add CHOWN, NET_ADMIN, NET_RAW, SETFCAP, NET_BIND_SERVICE, SETUID, SETGID, MKNOD (confidence: inferred; fix: needs-verification)\n"
        "#   the image's start-up at /usr/local/bin/docker-entrypoint.sh:12 (echo 1 > /proc/sys/kernel/randomize_va_space): it is not namespaced: no container can set it through sysctls:, and a privileged one changes it for the whole host; set it on the host (sysctl -w, /etc/sysctl.d) if the service needs it\n"
        "#   the image's start-up at /docker-entrypoint.d/20-wg.sh:2 (modprobe wireguard): loads a kernel module: load it on the host; SYS_MODULE would let the container load any module\n"
        "#   confidence lowered to inferred: the image's own start-up needs NET_ADMIN, NET_RAW, SETFCAP, NET_BIND_SERVICE, SETUID, SETGID, MKNOD, which the source of the answer did not list\n"
        "#   privileged also gave every host device and disabled seccomp and AppArmor; if the service uses a host device, list it under devices:\n"
        "#   no-new-privileges left out: the image has /usr/local/bin/docker-entrypoint.sh:14 (setcap cap_net_bind_service=+ep /usr/local/bin/server): no-new-privileges makes the kernel ignore the file capabilities it sets\n"
    )
    assert code == 0


def test_no_inspect_answers_from_the_knowledge_alone(tmp_path: Path, images: dict[str, str]) -> None:
    code, out = fix(tmp_path, images["unknown"], "--no-inspect", knowledge=True)
    assert normalised(out, tmp_path) == (
        "--- a/compose.yaml\n"
        "+++ b/compose.yaml\n"
        "@@ -1,4 +1,9 @@\n"
        " services:\n"
        "   app:\n"
        "     image: leastcap-test/imagefacts-fix-SUFFIX:1\n"
        "-    privileged: true\n"
        "+    cap_drop:\n"
        "+      - ALL  # drop everything, add back only what is needed\n"
        "+    cap_add:\n"
        "+      - CHOWN  # data directory owned by the app user (image knowledge: example-service)\n"
        "+    security_opt:\n"
        "+      - no-new-privileges:true\n"
        "# PROJECT/app: privileged: cap_add CHOWN (confidence: known; fix: needs-verification)\n"
        "#   privileged also gave every host device and disabled seccomp and AppArmor; if the service uses a host device, list it under devices:\n"
        "#   no-new-privileges added: the image knowledge (example-service) lists no setuid or file-capability helper it would disable\n"
    )
    assert code == 0


def test_a_non_root_service_keeps_only_file_capabilities(tmp_path: Path, images: dict[str, str]) -> None:
    (tmp_path / "compose.yaml").write_text(
        f'services:\n  app:\n    image: {images["unknown"]}\n    user: "1000"\n    privileged: true\n'
    )
    result = invoke_in(tmp_path, "fix")
    added = [line for line in result.output.splitlines() if line.startswith("+      - ")]
    # The root start-up code (gosu, chown, ip...) never runs as uid 1000; a file capability does.
    assert added == [
        "+      - ALL  # drop everything, add back only what is needed",
        "+      - NET_RAW  # 0755 cap_net_raw=ep (read from the image: /usr/local/bin/pinger)",
    ]
    assert result.exit_code == 0
