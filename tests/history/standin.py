# ruff: noqa: PLW2901, PERF401
"""TEMPORARY stand-in evaluation until the real loader lands (then this file is deleted).

Only what the history tests need: main + override file per directory, ``extends`` with ``file``,
``privileged: true`` and ``cap_add`` findings, ``.leastcap.yml`` exceptions by rule and service.
"""

from __future__ import annotations

import hashlib
import posixpath
from typing import Any

import yaml

from leastcap.history.gittree import GitTree
from leastcap.history.model import CommitRef
from leastcap.history.walk import ProjectEval
from leastcap.model import Confidence, Finding, Location, Problem, Severity, Suppression

MAINS = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml")


class StandIn:
    def __init__(self, cache: dict[bytes, Any]) -> None:
        self.cache = cache

    def _parse(self, tree: GitTree, path: str) -> Any:
        data = tree.read_bytes(path)
        digest = hashlib.sha256(data).digest()
        if digest not in self.cache:
            self.cache[digest] = yaml.safe_load(data) or {}
        return self.cache[digest]

    def evaluate_dir(
        self, tree: GitTree, directory: str, commit: CommitRef
    ) -> tuple[list[ProjectEval], list[Problem]]:
        main = next(
            (posixpath.join(directory, m) for m in MAINS if tree.is_file(posixpath.join(directory, m))), None
        )
        if main is None:
            return [], []
        files = [main] + [
            posixpath.join(directory, o) for o in OVERRIDES if tree.is_file(posixpath.join(directory, o))
        ]
        services: dict[str, dict[str, Any]] = {}
        for f in files:
            try:
                doc = self._parse(tree, f)
            except yaml.YAMLError:
                err = Problem(tree.display(f), "bad yaml")
                return [ProjectEval(tree.relpath(main) or "", (), (err,))], []
            for name, svc in (doc.get("services") or {}).items():
                svc = dict(svc or {})
                ext = svc.pop("extends", None)
                if ext:
                    base_file = posixpath.join(posixpath.dirname(f), ext["file"])
                    svc = {**(self._parse(tree, base_file).get("services") or {})[ext["service"]], **svc}
                services[name] = {**services.get(name, {}), **svc}
        config = {}
        cfg_path = posixpath.join(tree.root, ".leastcap.yml")
        if tree.is_file(cfg_path):
            config = self._parse(tree, cfg_path)
        findings: list[Finding] = []
        where = main
        for name, svc in sorted(services.items()):
            if svc.get("privileged") is True:
                findings.append(self._finding("privileged", name, tree.display(where), (), config))
            for cap in svc.get("cap_add") or []:
                findings.append(
                    self._finding(
                        "dangerous-capability", name, tree.display(where), (("capability", cap),), config
                    )
                )
        return [ProjectEval(tree.relpath(main) or "", tuple(findings))], []

    def _finding(
        self, rule: str, service: str, path: str, facts: tuple[tuple[str, str], ...], config: dict[str, Any]
    ) -> Finding:
        sup = None
        for exc in config.get("exceptions") or []:
            if exc.get("rule") == rule and exc.get("service") == service:
                sup = Suppression("exception", exc["justification"])
        return Finding(
            rule=rule,
            severity=Severity.CRITICAL,
            confidence=Confidence.HIGH,
            message=f"service {service!r} has {rule}: stand-in ({path})",
            location=Location(path, 1, 1),
            service=service,
            facts=facts,
            suppressed=sup,
        )
