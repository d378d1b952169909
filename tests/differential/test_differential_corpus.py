"""The corpus differential test: the real `docker compose` binary is the oracle.

For every file of ../shared/corpus/real/INDEX.tsv, and for compose-go's own loader and cli test
data, compose and leastcap load the file with the same cwd and fixed environment. When compose
loads it, leastcap's privilege fields must be equal. When compose refuses, its message decides
what leastcap must do (see ``differential/corpus.py``). Every disagreement is listed below, with
its reason; an entry that stops being true fails the test too, so the lists stay honest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from differential.corpus import (
    SCHEMA_ONLY,
    UNCLASSIFIED,
    UNDERSTOOD_NOT,
    WOULD_NOT_START,
    Outcome,
    corpus_files,
    is_local_refusal,
    run_all,
    yaml_files_under,
)
from support.components import require_compose, require_shared

pytestmark = [pytest.mark.slow, pytest.mark.shared, pytest.mark.compose]

_CONTENT = "a volume `content:` key, newer than compose 2.40.3 (compose-spec inline content); grants nothing"
_EXCLUDE_HC = "coolify's own `exclude_from_hc` key: unknown to compose"
_PRE_START = "`pre_start` hooks are newer than compose 2.40.3 (leastcap models them)"
_INVALID_PROTO = "a port with an empty protocol after interpolation: ports are not a privilege field"
_SHM = "`shm_size`/`extra_hosts` empty after interpolation: compose's decoder refuses; not privilege fields"

# compose refuses these for reasons leastcap does not replicate; leastcap loads them.
KNOWN_REFUSALS: dict[str, str] = {
    "Steam-Headless__docker-steam-headless/docs__compose-files__docker-compose.amd+intel.privileged.yml": _SHM,
    "Steam-Headless__docker-steam-headless/docs__compose-files__docker-compose.amd+intel.yml": _SHM,
    "Steam-Headless__docker-steam-headless/docs__compose-files__docker-compose.nvidia.privileged.yml": _SHM,
    "Steam-Headless__docker-steam-headless/docs__compose-files__docker-compose.nvidia.yml": _SHM,
    "blakeblackshear__frigate/docs__docs__frigate__installation.md.block03.compose.yml": (
        "an `environment` list item that is a mapping: compose's decoder refuses; not a privilege field"
    ),
    "containrrr__watchtower/docs__notifications.md.block01.compose.yml": "unknown service key `env`",
    "coollabsio__coolify/templates__compose__appwrite.yaml": _EXCLUDE_HC,
    "coollabsio__coolify/templates__compose__budibase.yaml": _EXCLUDE_HC,
    "coollabsio__coolify/templates__compose__dozzle-with-auth.yaml": _CONTENT,
    "coollabsio__coolify/templates__compose__forgejo-with-runner.yaml": (
        "`environment` written as a list of mappings: schema error on a non-privilege field"
    ),
    "coollabsio__coolify/templates__compose__home-assistant.yaml": _CONTENT,
    "coollabsio__coolify/templates__compose__homepage.yaml": _CONTENT,
    "coollabsio__coolify/templates__compose__plausible.yaml": _CONTENT,
    "coollabsio__coolify/templates__compose__pterodactyl-with-wings.yaml": _CONTENT,
    "coollabsio__coolify/templates__compose__swetrix.yaml": _CONTENT,
    "coollabsio__coolify/templates__compose__wings.yaml": _CONTENT,
    "docker__compose/pkg__e2e__fixtures__build-test__platforms__compose-service-platform-not-in-build-platforms.yaml": (
        "build.platforms must include the service platform: a build consistency check"
    ),
    "docker__compose/pkg__e2e__fixtures__build-test__ssh__compose.yaml": (
        "compose 2.40.3 fails to print `build.ssh` as JSON (MarshalJSON error): a compose bug, the file loads"
    ),
    "docker__compose/pkg__e2e__fixtures__wrong-composefile__compose.yaml": "unknown service key `wrongField`",
    "docker__compose/pkg__e2e__testdata__TestPreStartHookBuildInheritance__compose.yaml": _PRE_START,
    "docker__compose/pkg__e2e__testdata__TestPreStartHookForceRecreate__compose.yaml": _PRE_START,
    "docker__compose/pkg__e2e__testdata__TestPreStartHookIdempotentReUp__compose.yaml": _PRE_START,
    "docker__compose/pkg__e2e__testdata__TestPreStartHookInError__compose.yaml": _PRE_START,
    "docker__compose/pkg__e2e__testdata__TestPreStartHookMidSequenceFailure__compose.yaml": _PRE_START,
    "docker__compose/pkg__e2e__testdata__TestPreStartHookNotReRunOnScaleUp__compose.yaml": _PRE_START,
    "docker__compose/pkg__e2e__testdata__TestPreStartHookReRunOnSpecChange__compose.yaml": _PRE_START,
    "docker__compose/pkg__e2e__testdata__TestPreStartHookRunsOnceForScaledService__compose.yaml": _PRE_START,
    "docker__compose/pkg__e2e__testdata__TestPreStartHookSequentialOrder__compose.yaml": _PRE_START,
    "docker__compose/pkg__e2e__testdata__TestPreStartHookSuccess__compose.yaml": _PRE_START,
    "docker__compose/pkg__e2e__testdata__TestUpContainerNameConflict__compose.yaml": (
        "`container_name` empty after interpolation fails its pattern: not a privilege field"
    ),
    "ehough__docker-nfs-server/doc__feature__apparmor.md.block01.compose.yml": "`version: 3` is a number",
    "ehough__docker-nfs-server/doc__feature__auto-load-kernel-modules.md.block01.compose.yml": (
        "`version: 3` is a number"
    ),
    "grafana__beyla/internal__test__beyla_extensions__docker-compose-python-sql.yml": _INVALID_PROTO,
    "mattermost__docker/docker-compose.without-nginx.yml": _INVALID_PROTO,
    "nginx-proxy__nginx-proxy/docker-compose-separate-containers.yml": (
        "`environment` written as a list of mappings: schema error on a non-privilege field"
    ),
    "tailscale-dev__docker-guide-code-examples/03-nginx-example__compose.yaml": (
        "`volumes:` left null (every entry commented out): a schema error in one file; it grants nothing"
    ),
    "woodpecker-ci__woodpecker/docs__docs__30-administration__10-configuration__11-backends__20-kubernetes.md"
    ".block01.compose.yml": "unknown service key `backend_options`",
    "woodpecker-ci__woodpecker/docs__docs__92-development__09-testing.md.block01.compose.yml": (
        "unknown service key `commands`"
    ),
}

# Both tools refuse, for different first reasons.
KNOWN_BOTH_REFUSE: dict[str, str] = {
    "docker__compose/pkg__e2e__testdata__TestSecretFromEnv__compose.yaml": (
        "compose names the missing include env_file secret.env first; the include target child/compose.yaml is "
        "missing too (the corpus is flattened), which is leastcap's error"
    ),
    "docker__compose/pkg__e2e__testdata__TestSecretFromInclude__compose.yaml": (
        "compose names the missing include env_file secret.env first; the include target child/compose.yaml is "
        "missing too (the corpus is flattened), which is leastcap's error"
    ),
}

# compose loads these and leastcap's privilege view differs (none today).
KNOWN_DIFFERENCES: dict[str, str] = {}

PEER_KNOWN_BOTH_REFUSE: dict[str, str] = {
    "loader/testdata/extends/base.yaml": (
        "`nil:` (a null service): compose's schema says it must be a mapping; leastcap refuses the extends of it"
    ),
}


def _judge(
    outcomes: list[Outcome], refusals: dict[str, str], both_refuse: dict[str, str], differences: dict[str, str]
) -> tuple[list[str], str]:
    problems: list[str] = []
    loaded = [o for o in outcomes if o.compose_ok]
    agree = [o for o in loaded if o.kind == "agree"]
    for o in outcomes:
        errored = bool(o.leastcap_errors)
        if o.compose_ok:
            if o.kind == "differ" and o.path not in differences:
                problems.append(
                    f"{o.path}: privilege fields differ\n  compose:  {json.dumps(o.theirs, sort_keys=True)}"
                    f"\n  leastcap: {json.dumps(o.ours, sort_keys=True)} {o.leastcap_errors}"
                )
            elif o.kind == "agree" and o.path in differences:
                problems.append(f"{o.path}: listed as a known difference but now agrees")
            continue
        if o.path in both_refuse:
            if not errored:
                problems.append(f"{o.path}: listed as refused by both, but leastcap loads it")
            continue
        if o.path in refusals:
            if errored:
                problems.append(
                    f"{o.path}: listed as a known compose-only refusal, but leastcap errors: {o.leastcap_errors}"
                )
            continue
        last = o.compose_stderr.strip().splitlines()[-1] if o.compose_stderr.strip() else ""
        if o.kind == UNDERSTOOD_NOT and not errored:
            problems.append(f"{o.path}: compose cannot understand it ({last}) but leastcap loads it")
        elif o.kind == WOULD_NOT_START and (
            not all(is_local_refusal(e) for e in o.leastcap_errors) or not o.leastcap_warnings
        ):
            # compose stops at its first reason; leastcap may also have refused a value further
            # on (an undefined network): an error beside the findings, not instead of them.
            problems.append(
                f"{o.path}: compose refuses it as a project that would not start ({last}); leastcap must load it "
                f"and warn, got errors={o.leastcap_errors} warnings={o.leastcap_warnings}"
            )
        elif o.kind in (SCHEMA_ONLY, UNCLASSIFIED):
            problems.append(f"{o.path}: compose refuses it ({o.kind}: {last}) and it is not listed")
    refused = {o.path for o in outcomes if not o.compose_ok}
    problems += [
        f"{path}: listed as refused by compose, but compose loads it (or it is gone)"
        for path in (*refusals, *both_refuse)
        if path not in refused
    ]
    figure = (
        f"{len(agree)}/{len(loaded)} files that compose loads agree on the privilege fields; "
        f"{len(outcomes) - len(loaded)} refused by compose"
    )
    return problems, figure


def test_real_corpus_against_docker_compose(tmp_path: Path) -> None:
    binary = require_compose()
    root = require_shared() / "corpus" / "real"
    outcomes = run_all(binary, root, corpus_files(root), tmp_path, workers=2)
    problems, figure = _judge(outcomes, KNOWN_REFUSALS, KNOWN_BOTH_REFUSE, KNOWN_DIFFERENCES)
    print(f"\nreal corpus: {figure}")
    assert not problems, figure + "\n" + "\n".join(problems)


def test_compose_go_testdata_against_docker_compose(tmp_path: Path) -> None:
    binary = require_compose()
    root = require_shared() / "corpus" / "peers" / "compose-go"
    rels = yaml_files_under(root, ["loader/testdata", "cli/testdata"])
    outcomes = run_all(binary, root, rels, tmp_path, workers=2)
    problems, figure = _judge(outcomes, {}, PEER_KNOWN_BOTH_REFUSE, {})
    print(f"\ncompose-go testdata: {figure}")
    assert len(outcomes) == 41
    assert not problems, figure + "\n" + "\n".join(problems)
