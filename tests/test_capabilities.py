import pytest

from leastcap.capabilities import (
    DOCKER_DEFAULT_CAPABILITIES,
    UnknownCapabilityError,
    effective,
    normalize,
    parse_mask,
)


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("NET_ADMIN", "CAP_NET_ADMIN"),
        ("net_admin", "CAP_NET_ADMIN"),
        ("CAP_NET_ADMIN", "CAP_NET_ADMIN"),
        ("cap_net_admin", "CAP_NET_ADMIN"),
        ("Net_Admin", "CAP_NET_ADMIN"),
        ("all", "ALL"),
        ("ALL", "ALL"),
    ],
)
def test_normalize_like_moby(written: str, normal: str) -> None:
    assert normalize(written) == normal


@pytest.mark.parametrize("bad", ["CAP_ALL", " NET_ADMIN", "NET_ADMIN ", "NETADMIN", ""])
def test_normalize_refuses_what_moby_refuses(bad: str) -> None:
    with pytest.raises(UnknownCapabilityError):
        normalize(bad)


def test_cap_add_all_beats_cap_drop_all() -> None:
    result = effective(["ALL"], ["ALL"])
    assert result.reason == "cap_add ALL"
    assert "CAP_SYS_ADMIN" in result.capabilities


def test_privileged_ignores_cap_drop() -> None:
    assert "CAP_SYS_ADMIN" in effective([], ["ALL"], privileged=True).capabilities


def test_drop_all_keeps_exactly_add() -> None:
    assert effective(["net_admin"], ["ALL"]).capabilities == {"CAP_NET_ADMIN"}


def test_add_wins_over_specific_drop() -> None:
    result = effective(["CHOWN"], ["CAP_CHOWN", "NET_RAW"])
    assert "CAP_CHOWN" in result.capabilities
    assert "CAP_NET_RAW" not in result.capabilities


def test_defaults_when_nothing_set() -> None:
    assert effective([], []).capabilities == frozenset(DOCKER_DEFAULT_CAPABILITIES)


def test_parse_mask_of_docker_default_container() -> None:
    # CapEff of a default busybox container on this machine's dockerd.
    assert parse_mask("00000000a80425fb") == frozenset(DOCKER_DEFAULT_CAPABILITIES)
