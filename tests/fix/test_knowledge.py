"""The image knowledge base: every entry is valid, every fact has a public source, lookups hit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from leastcap.knowledge.image_knowledge import (
    IMAGES_DIR,
    SCHEMA_PATH,
    KnowledgeError,
    builtin_entries,
    load_knowledge,
    split_image,
)

SCHEMA = json.loads(SCHEMA_PATH.read_text())
FILES = sorted(IMAGES_DIR.glob("*.yaml"))


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_at_least_eighty_families() -> None:
    assert len(FILES) >= 80
    assert len(builtin_entries()) == len(FILES)


def _facts(data: dict[str, Any]) -> list[dict[str, Any]]:
    facts = [*data["needs"], *data.get("notes", [])]
    facts.extend(data[key] for key in ("privileged", "no_new_privileges") if key in data)
    return facts


PINNED = re.compile(r"^https://github\.com/[^/]+/[^/]+/blob/[0-9a-f]{40}/\S+$")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_entry_validates_and_every_fact_has_a_source_and_quote(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["family"] == path.stem
    facts = _facts(data)
    assert facts, "an entry with no facts says nothing"
    for fact in facts:
        assert fact["sources"], fact
        for source in fact["sources"]:
            assert source["url"].startswith("https://"), source
            # The quote is the sentence the fact rests on, copied verbatim: one line of text, not a
            # paraphrase marker or an ellipsis standing in for it.
            quote = source["quote"]
            assert quote == quote.strip() and "\n" not in quote and "..." not in quote, source
            if "/blob/" in source["url"]:
                # A file in a repository is pinned to the commit the quote was checked against.
                assert PINNED.match(source["url"]), source


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_coverage_says_what_is_known_and_what_is_not(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    for mode, coverage in data["coverage"].items():
        if not coverage["complete"]:
            assert coverage["known"] and coverage["unknown"], (mode, coverage)
            assert "base" not in coverage, "an incomplete mode keeps Docker's defaults for the rest anyway"


def test_families_are_unique() -> None:
    families = [e.family for e in builtin_entries()]
    assert len(families) == len(set(families))


REQUIRED = [
    "wireguard", "gluetun", "tailscale", "pihole", "netdata", "cadvisor", "node-exporter", "frigate",
    "home-assistant", "jellyfin", "docker-dind", "falco", "openvpn", "nginx", "postgres", "redis", "mysql",
    "mariadb", "mongo", "elasticsearch", "keepalived", "chrony", "coredns", "syncthing", "traefik",
    "portainer", "ipsec-vpn-server", "linuxserver-homeassistant",
]  # fmt: skip


def test_required_families_present() -> None:
    kb = load_knowledge()
    assert [f for f in REQUIRED if kb.family(f) is None] == []


@pytest.mark.parametrize(
    ("image", "family"),
    [
        ("lscr.io/linuxserver/wireguard:latest", "wireguard"),
        ("linuxserver/wireguard", "wireguard"),
        ("qmcgaw/gluetun:v3", "gluetun"),
        ("tailscale/tailscale:stable", "tailscale"),
        ("pihole/pihole:2024.07.0", "pihole"),
        ("netdata/netdata", "netdata"),
        ("gcr.io/cadvisor/cadvisor:v0.47.2", "cadvisor"),
        ("quay.io/prometheus/node-exporter:latest", "node-exporter"),
        ("ghcr.io/blakeblackshear/frigate:stable", "frigate"),
        ("ghcr.io/home-assistant/home-assistant:stable", "home-assistant"),
        ("jellyfin/jellyfin", "jellyfin"),
        ("docker:24-dind", "docker-dind"),
        ("docker:27", "docker-dind"),
        ("docker:latest", "docker-dind"),
        ("docker", "docker-dind"),
        ("docker:27.3.1", "docker-dind"),
        ("docker.io/library/docker:27-dind-rootless", "docker-dind"),
        ("mirror.gcr.io/library/docker:27", "docker-dind"),
        ("lscr.io/linuxserver/homeassistant:latest", "linuxserver-homeassistant"),
        ("hwdsl2/ipsec-vpn-server", "ipsec-vpn-server"),
        ("moby/buildkit", "buildkit"),
        ("moby/buildkit:latest", "buildkit"),
        ("moby/buildkit:rootless", "buildkit-rootless"),
        ("moby/buildkit:v0.13.0-rootless", "buildkit-rootless"),
        ("ghcr.io/telekom-security/suricata:24.04", "tpot-sensors"),
        ("ghcr.io/linuxserver/fail2ban", "linuxserver-fail2ban"),
        ("nvcr.io/nvidia/k8s/dcgm-exporter:3.3.5-3.4.0-ubuntu22.04", "dcgm-exporter"),
        ("ghcr.io/m1k1o/neko/chromium", "neko"),
        ("jetbrains/teamcity-agent:2024.1", "teamcity-agent"),
        ("clickhouse/clickhouse-server:24", "clickhouse"),
        ("myoung34/github-runner:latest", "github-runner"),
        ("docker.io/library/docker:dind-rootless", "docker-dind"),
        ("falcosecurity/falco-no-driver:0.37.1", "falco"),
        ("kylemanna/openvpn", "openvpn"),
        ("nginx:1.25-alpine", "nginx"),
        ("postgres:16@sha256:abcd", "postgres"),
        ("redis", "redis"),
        ("index.docker.io/library/mysql:8", "mysql"),
        ("mariadb:11", "mariadb"),
        ("mongo:7", "mongo"),
        ("docker.elastic.co/elasticsearch/elasticsearch:8.13.0", "elasticsearch"),
        ("osixia/keepalived:2.0.20", "keepalived"),
        ("cturra/ntp", "chrony"),
        ("coredns/coredns:1.11.1", "coredns"),
        ("syncthing/syncthing", "syncthing"),
        ("traefik:v3.0", "traefik"),
        ("portainer/portainer-ce:latest", "portainer"),
        ("NGINX", "nginx"),
    ],
)
def test_lookup_hits(image: str, family: str) -> None:
    entry = load_knowledge().lookup(image)
    assert entry is not None and entry.family == family


@pytest.mark.parametrize(
    "image",
    [
        "docker:cli", "docker:27-cli", "docker:27.3.1-cli-alpine3.20", "docker:windowsservercore-ltsc2022",
        "myorg/docker", "example.com/nginx", "myorg/postgres-tools", "", "${IMAGE}",
    ],
)  # fmt: skip
def test_lookup_misses(image: str) -> None:
    assert load_knowledge().lookup(image) is None


def test_split_image() -> None:
    assert split_image("nginx") == ("docker.io/library/nginx", "")
    assert split_image("localhost:5000/app:1") == ("localhost:5000/app", "1")
    assert split_image("ghcr.io/a/b@sha256:00") == ("ghcr.io/a/b", "")


USER_ENTRY = {
    "family": "nginx",
    "title": "our nginx",
    "patterns": ["registry.example.com/web/nginx"],
    "coverage": {"root": {"complete": True}},
    "needs": [
        {
            "feature": "serving",
            "default": True,
            "cap_add": ["net_bind_service"],
            "reason": "host network on port 80",
            "sources": [
                {"url": "https://wiki.example.com/nginx", "quote": "The edge nginx binds port 80 on the host."}
            ],
        }
    ],
}


def test_user_entry_overrides_builtin_family() -> None:
    kb = load_knowledge([USER_ENTRY])
    entry = kb.lookup("registry.example.com/web/nginx:2")
    assert entry is not None and entry.origin == ".leastcap.yml"
    assert entry.needs[0].cap_add == ("NET_BIND_SERVICE",)
    # the built-in nginx entry is replaced, not consulted
    assert kb.lookup("nginx") is None
    assert len([e for e in kb.entries if e.family == "nginx"]) == 1


def test_user_entry_without_source_is_refused() -> None:
    bad = json.loads(json.dumps(USER_ENTRY))
    del bad["needs"][0]["sources"]
    expected = r"images\[0\]: invalid image entry at needs/0: 'sources' is a required"
    with pytest.raises(KnowledgeError, match=expected):
        load_knowledge([bad])


def test_user_entry_with_unknown_capability_is_refused() -> None:
    bad = json.loads(json.dumps(USER_ENTRY))
    bad["needs"][0]["cap_add"] = ["NET_ADMINN"]
    with pytest.raises(KnowledgeError, match="unknown capability 'NET_ADMINN'"):
        load_knowledge([bad])


def test_user_family_defined_twice_is_refused() -> None:
    with pytest.raises(KnowledgeError, match="defined twice") as raised:
        load_knowledge([USER_ENTRY, USER_ENTRY])
    # Which entry, and the message without the file, for reports that give the file's line apart.
    assert (raised.value.entry, raised.value.detail) == (1, "image family 'nginx' is defined twice")
    assert str(raised.value) == ".leastcap.yml: image family 'nginx' is defined twice"


def test_user_entry_without_quote_is_refused() -> None:
    bad = json.loads(json.dumps(USER_ENTRY))
    del bad["needs"][0]["sources"][0]["quote"]
    expected = r"images\[0\]: invalid image entry at needs/0/sources/0: 'quote' is a required"
    with pytest.raises(KnowledgeError, match=expected):
        load_knowledge([bad])


def test_user_entry_without_coverage_is_refused() -> None:
    bad = json.loads(json.dumps(USER_ENTRY))
    del bad["coverage"]
    with pytest.raises(KnowledgeError, match=r"images\[0\]: invalid image entry at \(top\): 'coverage' is a required"):
        load_knowledge([bad])


def test_incomplete_coverage_must_say_what_is_known_and_not() -> None:
    bad = json.loads(json.dumps(USER_ENTRY))
    bad["coverage"] = {"root": {"complete": False, "known": "the port"}}
    with pytest.raises(KnowledgeError, match=r"invalid image entry at coverage/root: 'unknown' is a required"):
        load_knowledge([bad])
