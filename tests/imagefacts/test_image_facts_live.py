"""Image facts from a real image on the real engine: built here with ``docker import`` (no registry),
exported and read without running anything, and shown by ``leastcap explain-image``."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import docker
import pytest
from click.testing import CliRunner
from imagetar import SERVICE, build_tar
from test_image_facts import EXPECTED_SERVICE, rows

from leastcap.cli.app import cli
from leastcap.imagefacts.inspect import ImageNotFoundError, inspect_image
from support.components import require_docker

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def service_image() -> Iterator[str]:
    require_docker()
    tag = f"leastcap-test/imagefacts-{uuid.uuid4().hex[:8]}:1"
    subprocess.run(
        ["docker", "import", "-c", 'ENTRYPOINT ["docker-entrypoint.sh"]', "-c", 'CMD ["server"]', "-", tag],
        input=build_tar(SERVICE),
        check=True,
        capture_output=True,
    )
    yield tag
    subprocess.run(["docker", "image", "rm", "-f", tag], check=False, capture_output=True)


def inspect_containers(image: str) -> list[str]:
    """The inspect containers of ``image`` (others' runs beside this one have their own images)."""
    client = docker.from_env()
    labels = {"label": "org.leastcap.purpose=image-inspect", "ancestor": image}
    return [c.id for c in client.containers.list(all=True, filters=labels)]


def test_the_engine_export_gives_the_same_facts_and_leaves_no_container(service_image: str) -> None:
    before = inspect_containers(service_image)
    facts = inspect_image(service_image)
    assert rows(list(facts.facts)) == EXPECTED_SERVICE  # setuid bits, file capabilities and links survive export
    assert (facts.entrypoint, facts.command, facts.user) == (("docker-entrypoint.sh",), ("server",), "")
    assert facts.image_id.startswith("sha256:")
    assert inspect_containers(service_image) == before


def test_an_image_that_is_not_local_is_named(service_image: str) -> None:
    with pytest.raises(ImageNotFoundError, match="is not on the local engine"):
        inspect_image(service_image.replace(":1", ":absent"))


def test_explain_image_shows_what_the_image_does(service_image: str) -> None:
    result = CliRunner().invoke(cli, ["explain-image", service_image])
    assert result.exit_code == 0
    text = result.output
    head, _, facts = text.partition(f"read from the image {service_image} (")
    assert head.startswith(f"Nothing is known about {service_image}.\n")
    assert facts.split("\n", 1)[1] == (
        "- /usr/local/bin/docker-entrypoint.sh:4: chown -R app:app /data\n"
        "    needs: CHOWN\n"
        "- /usr/local/bin/docker-entrypoint.sh:7: ip link set dev eth0 mtu 1400\n"
        "    needs: NET_ADMIN\n"
        "- /usr/local/bin/docker-entrypoint.sh:8: iptables -t nat -A POSTROUTING -j MASQUERADE\n"
        "    needs: NET_ADMIN, NET_RAW\n"
        "    the legacy iptables backend opens a raw socket (NET_RAW); the nft backend needs only NET_ADMIN\n"
        "- /usr/local/bin/docker-entrypoint.sh:11: sysctl -w net.ipv4.ip_forward=1\n"
        "    sysctl net.ipv4.ip_forward: /proc/sys is read-only in a container: set it with sysctls: net.ipv4.ip_forward\n"
        "- /usr/local/bin/docker-entrypoint.sh:12: echo 1 > /proc/sys/kernel/randomize_va_space\n"
        "    sysctl kernel.randomize_va_space: it is not namespaced: no container can set it through sysctls:, and a "
        "privileged one changes it for the whole host; set it on the host (sysctl -w, /etc/sysctl.d) if the service needs it\n"
        "- /usr/local/bin/docker-entrypoint.sh:14: setcap cap_net_bind_service=+ep /usr/local/bin/server\n"
        "    needs: SETFCAP, NET_BIND_SERVICE\n"
        "    no-new-privileges makes the kernel ignore the file capabilities it sets\n"
        "    no-new-privileges: would stop it working\n"
        '- /usr/local/bin/docker-entrypoint.sh:15: exec gosu app "$@"\n'
        "    needs: SETUID, SETGID\n"
        "- /docker-entrypoint.d/10-tun.sh:1: mknod /dev/net/tun c 10 200\n"
        "    needs: MKNOD\n"
        "- /docker-entrypoint.d/20-wg.sh:2: modprobe wireguard\n"
        "    loads a kernel module: load it on the host; SYS_MODULE would let the container load any module\n"
        "- /docker-entrypoint.d/20-wg.sh:3: wg-quick up wg0\n"
        "    needs: NET_ADMIN\n"
        "- /usr/local/bin/helper: 4750 setuid root\n"
        "    present but not called by the start-up scripts read; the service may run it later; no-new-privileges "
        "stops it gaining setuid root privileges\n"
        "    no-new-privileges: would stop it working\n"
        "- /usr/local/bin/pinger: 0755 cap_net_raw=ep\n"
        "    needs: NET_RAW\n"
        "    no-new-privileges makes the kernel ignore its file capabilities\n"
        "    no-new-privileges: would stop it working\n"
    )
    assert facts.split("\n", 1)[0].endswith(", user root (no USER), 3 start-up script(s) read):")
    # --no-inspect: only the knowledge; an absent image without --pull adds nothing.
    quiet = CliRunner().invoke(cli, ["explain-image", service_image, "--no-inspect"])
    assert "read from the image" not in quiet.output
    absent = CliRunner().invoke(cli, ["explain-image", service_image.replace(":1", ":absent")])
    assert absent.exit_code == 0 and "read from the image" not in absent.output


def test_an_image_that_cannot_be_pulled_is_an_error(service_image: str) -> None:
    # No registry answers here: the pull the user asked for fails, and says so (exit 2); the
    # knowledge part is still printed.
    absent = f"{service_image.rsplit(':', maxsplit=1)[0]}-never-pushed:1"
    result = CliRunner().invoke(cli, ["explain-image", absent, "--pull"])
    assert result.stdout.startswith(f"Nothing is known about {absent}.\n")
    assert result.stderr.startswith("error: image facts: the image could not be pulled or read: ")
    assert result.exit_code == 2
