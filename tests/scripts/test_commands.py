"""Every recognised command form, with the exact field, value, line and column of each flag."""

from __future__ import annotations

import pytest
from golden import model_lines

from leastcap.model import Device, Mount, Project, SourceKind
from leastcap.scripts.model import parse_device, parse_mount, parse_volume
from leastcap.scripts.textfiles import services_in_shell


def lines_of(script: str) -> list[str]:
    services = services_in_shell(script, "t.sh")
    project = Project(name="t.sh", files=("t.sh",), working_dir=".", services=tuple(services), source=SourceKind.SCRIPT)
    return [line.split(" | ", 1)[1] if " | " in line else line.strip() for line in model_lines([project])]


CASES = [
    # plain forms
    (
        "docker run --privileged img",
        ["docker-run@L1 [docker-run] key 1:1", "privileged=True @1:12", "image=img @1:25"],
    ),
    (
        "docker create --privileged img",
        ["docker-create@L1 [docker-create] key 1:1", "privileged=True @1:15", "image=img @1:28"],
    ),
    (
        "docker container run --privileged img",
        ["docker-run@L1 [docker-run] key 1:1", "privileged=True @1:22", "image=img @1:35"],
    ),
    (
        "docker container create --cap-add=ALL img",
        ["docker-create@L1 [docker-create] key 1:1", "cap_add=ALL @1:25", "image=img @1:39"],
    ),
    (
        "podman run --privileged img",
        ["podman-run@L1 [podman-run] key 1:1", "privileged=True @1:12", "image=img @1:25"],
    ),
    (
        "nerdctl run --privileged img",
        ["nerdctl-run@L1 [nerdctl-run] key 1:1", "privileged=True @1:13", "image=img @1:26"],
    ),
    (
        "/usr/bin/docker run --pid=host img",
        ["docker-run@L1 [docker-run] key 1:1", "pid=host @1:21", "image=img @1:32"],
    ),
    # --flag=value and --flag value, quoted flags
    (
        "docker run --cap-add=ALL img",
        ["docker-run@L1 [docker-run] key 1:1", "cap_add=ALL @1:12", "image=img @1:26"],
    ),
    (
        "docker run --cap-add ALL img",
        ["docker-run@L1 [docker-run] key 1:1", "cap_add=ALL @1:12", "image=img @1:26"],
    ),
    (
        "docker run \"--cap-add\" 'SYS_ADMIN' img",
        ["docker-run@L1 [docker-run] key 1:1", "cap_add=SYS_ADMIN @1:12", "image=img @1:36"],
    ),
    (
        "docker run '--security-opt=seccomp=unconfined' img",
        ["docker-run@L1 [docker-run] key 1:1", "security_opt=seccomp=unconfined @1:12", "image=img @1:48"],
    ),
    (
        "docker run --security-opt seccomp=unconfined --security-opt apparmor:unconfined img",
        [
            "docker-run@L1 [docker-run] key 1:1",
            "security_opt=seccomp=unconfined @1:12",
            "security_opt=apparmor:unconfined @1:46",
            "image=img @1:81",
        ],
    ),
    # --privileged=false is not privileged; other booleans follow pflag's ParseBool
    (
        "docker run --privileged=false img",
        ["docker-run@L1 [docker-run] key 1:1", "privileged=False @1:12", "image=img @1:31"],
    ),
    (
        "docker run --privileged=0 --read-only img",
        [
            "docker-run@L1 [docker-run] key 1:1",
            "privileged=False @1:12",
            "read_only=True @1:27",
            "image=img @1:39",
        ],
    ),
    (
        "docker run --privileged=true img",
        ["docker-run@L1 [docker-run] key 1:1", "privileged=True @1:12", "image=img @1:30"],
    ),
    # short flags, combined groups, attached values
    (
        "docker run -it -v /var/run/docker.sock:/var/run/docker.sock img",
        [
            "docker-run@L1 [docker-run] key 1:1",
            "volumes=bind:/var/run/docker.sock->/var/run/docker.sock @1:16",
            "image=img @1:61",
        ],
    ),
    (
        "docker run -itv /:/host img",
        ["docker-run@L1 [docker-run] key 1:1", "volumes=bind:/->/host @1:12", "image=img @1:25"],
    ),
    (
        "docker run -v/etc:/e -u0 img",
        [
            "docker-run@L1 [docker-run] key 1:1",
            "volumes=bind:/etc->/e @1:12",
            "user=0 @1:22",
            "image=img @1:26",
        ],
    ),
    (
        "docker run --net host img",
        ["docker-run@L1 [docker-run] key 1:1", "network_mode=host @1:12", "image=img @1:23"],
    ),
    (
        "docker run --network=host --ipc=host --uts host --userns=host --cgroupns=host --pid host img",
        [
            "docker-run@L1 [docker-run] key 1:1",
            "pid=host @1:79",
            "ipc=host @1:27",
            "network_mode=host @1:12",
            "userns_mode=host @1:49",
            "uts=host @1:38",
            "cgroup=host @1:63",
            "image=img @1:90",
        ],
    ),
    (
        "docker run --user root --device /dev/sda --device-cgroup-rule 'a *:* rwm' img",
        [
            "docker-run@L1 [docker-run] key 1:1",
            "devices=/dev/sda->/dev/sda:rwm @1:24",
            "device_cgroup_rules=a *:* rwm @1:42",
            "user=root @1:12",
            "image=img @1:75",
        ],
    ),
    (
        "docker run --mount type=bind,src=/proc,dst=/p,readonly img",
        ["docker-run@L1 [docker-run] key 1:1", "volumes=bind:/proc->/p,ro @1:12", "image=img @1:56"],
    ),
    (
        "docker run --cap-drop=ALL --cap-add NET_BIND_SERVICE img",
        [
            "docker-run@L1 [docker-run] key 1:1",
            "cap_add=NET_BIND_SERVICE @1:27",
            "cap_drop=ALL @1:12",
            "image=img @1:54",
        ],
    ),
    # prefixes: sudo (with options), env (with options and assignments), exec, assignments, control words
    (
        "sudo -u root -E docker run --privileged img",
        ["docker-run@L1 [docker-run] key 1:1", "privileged=True @1:28", "image=img @1:41"],
    ),
    (
        "env -i A=1 B=2 docker run --privileged img",
        ["docker-run@L1 [docker-run] key 1:1", "privileged=True @1:27", "image=img @1:40"],
    ),
    (
        "exec docker run --privileged img",
        ["docker-run@L1 [docker-run] key 1:1", "privileged=True @1:17", "image=img @1:30"],
    ),
    (
        "DOCKER_HOST=tcp://x docker run --privileged img",
        ["docker-run@L1 [docker-run] key 1:1", "privileged=True @1:32", "image=img @1:45"],
    ),
    (
        "if true; then docker run --privileged img; fi",
        ["docker-run@L1 [docker-run] key 1:15", "privileged=True @1:26", "image=img @1:39"],
    ),
    (
        "docker -H tcp://h:2375 --context x run --privileged img",
        ["docker-run@L1 [docker-run] key 1:1", "privileged=True @1:40", "image=img @1:53"],
    ),
    (
        "make build && docker run --privileged img | tee log",
        ["docker-run@L1 [docker-run] key 1:15", "privileged=True @1:26", "image=img @1:39"],
    ),
    # docker compose run: its own flags (no --privileged); the target is a service, not an image
    (
        "docker compose -f a.yml -p x run --rm --cap-add SYS_ADMIN -u 0 -v /:/h web sh",
        [
            "compose-run@L1 [compose-run] key 1:1",
            "cap_add=SYS_ADMIN @1:39",
            "volumes=bind:/->/h @1:64",
            "user=0 @1:59",
        ],
    ),
    (
        "docker-compose run -T --cap-add=NET_ADMIN web",
        ["compose-run@L1 [compose-run] key 1:1", "cap_add=NET_ADMIN @1:23"],
    ),
    # --name is the command's identifier
    (
        "docker run --name web --privileged img",
        ["web [docker-run] key 1:1", "privileged=True @1:23", "image=img @1:36"],
    ),
    # line continuations: each flag on its own line and column
    (
        "docker run \\\n  --privileged \\\n    -v /:/h \\\n  img",
        [
            "docker-run@L1 [docker-run] key 1:1",
            "privileged=True @2:3",
            "volumes=bind:/->/h @3:5",
            "image=img @4:3",
        ],
    ),
    # variables: reported as unknown with their names, never guessed
    (
        'docker run --privileged=$PRIV --cap-add "${CAP:-NET_ADMIN}" -v $SOCK:/var/run/docker.sock img',
        [
            "docker-run@L1 [docker-run] key 1:1",
            "privileged=True @1:12 vars=PRIV",
            "cap_add=${CAP:-NET_ADMIN} @1:31 vars=CAP",
            "volumes=bind:$SOCK->/var/run/docker.sock @1:61 vars=SOCK",
            "image=img @1:91",
        ],
    ),
    (
        "docker run -v ~/.ssh:/root/.ssh img",
        [
            "docker-run@L1 [docker-run] key 1:1",
            "volumes=bind:~/.ssh->/root/.ssh @1:12 vars=HOME",
            "image=img @1:33",
        ],
    ),
    # a command started inside $(...) or backticks still counts
    (
        "id=$(docker run -d --privileged img)",
        ["docker-run@L1 [docker-run] key 1:6", "privileged=True @1:20", "image=img @1:33"],
    ),
    (
        "id=`docker run -d --privileged img`",
        ["docker-run@L1 [docker-run] key 1:5", "privileged=True @1:19", "image=img @1:32"],
    ),
    # flags after the image belong to the container's command
    ("docker run img --privileged", ["docker-run@L1 [docker-run] key 1:1", "image=img @1:12"]),
    ("docker run -e X=1 -- img --cap-add=ALL", ["docker-run@L1 [docker-run] key 1:1", "image=img @1:22"]),
    # podman splits comma lists
    (
        "podman run --cap-add=NET_ADMIN,SYS_TIME img",
        [
            "podman-run@L1 [podman-run] key 1:1",
            "cap_add=NET_ADMIN @1:12",
            "cap_add=SYS_TIME @1:12",
            "image=img @1:41",
        ],
    ),
]


@pytest.mark.parametrize(("script", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_command_forms(script: str, expected: list[str]) -> None:
    assert lines_of(script) == expected


def test_sh_c_strings_are_scripts() -> None:
    script = (
        "sudo sh -c 'docker run --privileged a'\n"
        'bash -ec "docker run --pid=host $IMG"\n'
        "docker run img sh -c 'docker run --privileged inside-the-container'\n"
        "sh -c 'echo \"docker run --privileged quoted\"'\n"
    )
    assert lines_of(script) == [
        "docker-run@L1 [docker-run] key 1:13",
        "privileged=True @1:24",
        "image=a @1:37",
        "docker-run@L2 [docker-run] key 2:11",
        "pid=host @2:22",
        "image=$IMG @2:33 vars=IMG",
        "docker-run@L3 [docker-run] key 3:1",
        "image=img @3:12",
    ]


NEGATIVE = [
    "# docker run --privileged img",
    'echo "docker run --privileged img"',
    "echo 'docker run --cap-add=ALL img'",
    "printf '%s' docker run --privileged img",
    "docker ps --privileged",
    "docker build --privileged .",
    "cat <<EOF\ndocker run --privileged img\nEOF",
    "cat <<-'EOF'\n\tdocker run --privileged img\n\tEOF",
    "docker-run --privileged img",
    '"$DOCKER" run --privileged img',
    "x=docker run --privileged",
]


@pytest.mark.parametrize("script", NEGATIVE)
def test_not_a_container_command(script: str) -> None:
    assert lines_of(script) == []


def test_heredoc_body_skipped_but_following_command_found() -> None:
    script = "cat <<EOF > x\ndocker run --privileged a\nEOF\ndocker run --pid=host b\n"
    assert lines_of(script) == ["docker-run@L4 [docker-run] key 4:1", "pid=host @4:12", "image=b @4:23"]


def test_two_commands_with_the_same_name_stay_apart() -> None:
    script = "docker run --name w --privileged a\ndocker run --name w --pid=host b\n"
    names = [line.split(" ")[0] for line in lines_of(script) if "key" in line]
    assert names == ["w@L1", "w@L2"]


@pytest.mark.parametrize(
    ("spec", "mount"),
    [
        ("/data", Mount(type="volume", target="/data")),
        ("/data:ro", Mount(type="volume", target="/data", read_only=True)),
        ("name:/data", Mount(type="volume", target="/data", source="name")),
        ("/h:/c", Mount(type="bind", target="/c", source="/h")),
        (
            "./x:/c:ro,rshared",
            Mount(type="bind", target="/c", source="./x", read_only=True, propagation="rshared"),
        ),
        (".:/c", Mount(type="bind", target="/c", source=".")),
        ("$PWD:/c", Mount(type="bind", target="/c", source="$PWD")),
        (
            "/var/run/docker.sock:/var/run/docker.sock:z",
            Mount(type="bind", target="/var/run/docker.sock", source="/var/run/docker.sock"),
        ),
    ],
)
def test_volume_semantics_match_the_daemon(spec: str, mount: Mount) -> None:
    assert parse_volume(spec) == mount


def test_device_and_mount_parsing() -> None:
    assert parse_device("/dev/sda") == Device("/dev/sda", "/dev/sda", "rwm")
    assert parse_device("/dev/sda:r") == Device("/dev/sda", "/dev/sda", "r")
    assert parse_device("/dev/sda:/dev/xvda") == Device("/dev/sda", "/dev/xvda", "rwm")
    assert parse_device("/dev/sda:/dev/xvda:rw") == Device("/dev/sda", "/dev/xvda", "rw")
    assert parse_device("nvidia.com/gpu=all") == Device("nvidia.com/gpu=all", "", "", cdi=True)
    assert parse_mount("type=bind,source=/,target=/h,bind-propagation=rshared") == Mount(
        type="bind", target="/h", source="/", propagation="rshared"
    )
    assert parse_mount("src=data,dst=/d,ro=false") == Mount(type="volume", target="/d", source="data")
    assert parse_mount('type=bind,"source=/a,b",target=/c') == Mount(type="bind", target="/c", source="/a,b")
