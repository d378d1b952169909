"""The docker-socket rule on hand-built services: exact rule, severity, confidence, location and message."""

from __future__ import annotations

from rulebuild import PATH, at, bind, brief, run, service

from leastcap.model import Location, Mount


def test_docker_socket() -> None:
    svc = service(
        volumes=(
            at(bind("/var/run/docker.sock", "/var/run/docker.sock", read_only=True), 5, 9),
            at(bind("/run/containerd/containerd.sock", "/c.sock"), 6, 9),
            at(Mount("volume", "/var/run/docker.sock"), 7, 9),  # anonymous volume, not the host's socket
            at(Mount("volume", "/sock", "dockersock", host_path="/run/podman/podman.sock"), 8, 9),
            at(bind("/srv/docker.socket", "/x"), 9, 9),
        ),
        use_api_socket=at(True, 10, 21),
    )
    found = run("docker-socket", svc)
    assert brief(found) == [
        ("docker-socket", "critical", line, col) for line, col in ((5, 9), (6, 9), (8, 9), (10, 21))
    ]
    assert found[0].message == (
        "service 'web' mounts /var/run/docker.sock, the Docker API, which lets it start a privileged container "
        "that mounts the host's root file system: root on the host (read-only does not help: connecting to a "
        "socket is not a write)"
    )
    assert found[3].message.startswith("service 'web' sets use_api_socket: true")
    assert run("docker-socket", service(use_api_socket=at(False, 4))) == []


def test_docker_socket_through_volumes_from_follows_chains_and_stops_at_cycles() -> None:
    agent = service("agent", volumes=(at(bind("/var/run/docker.sock", "/s"), 5, 9),))
    sidecar = service("sidecar", key=Location(PATH, 10, 3), volumes_from=(at("agent:ro", 12, 9),))
    chained = service("chained", key=Location(PATH, 20, 3), volumes_from=(at("sidecar", 21, 9),))
    loop_a = service("a", key=Location(PATH, 30, 3), volumes_from=(at("b", 31, 9),))
    loop_b = service("b", key=Location(PATH, 40, 3), volumes_from=(at("a", 41, 9),))
    found = run("docker-socket", agent, sidecar, chained, loop_a, loop_b)
    assert [(f.service, f.location.line) for f in found] == [("agent", 5), ("sidecar", 12), ("chained", 21)]
    assert found[2].message == (
        "service 'chained' mounts /var/run/docker.sock, the Docker API through volumes_from: sidecar (service "
        "'agent' binds it), which lets it start a privileged container that mounts the host's root file "
        "system: root on the host"
    )
    assert found[2].related == (Location(PATH, 5, 9, "the socket bind in service agent"),)
