"""Small helpers every rule shares: how a value's variables and a service's profiles show up in
a message, and how confidence follows from them."""

from __future__ import annotations

from typing import Any

from leastcap.model import Confidence, Located, Project, Service


def variables_of(*values: Located[Any] | None) -> tuple[str, ...]:
    names: list[str] = []
    for value in values:
        if value is not None:
            names.extend(v for v in value.variables if v not in names)
    return tuple(names)


def confidence_for(*values: Located[Any] | None) -> Confidence | None:
    """Medium when the value came from interpolation: the environment at run time decides."""
    return Confidence.MEDIUM if variables_of(*values) else None


def context(service: Service, *values: Located[Any] | None, flag: str = "") -> str:
    """The tail of a message: the variables the value depends on, and the gating profiles.

    ``flag`` names a boolean setting that is true here: the tail then reads "privileged is true
    unless ${AGENT_PRIVILEGED} is set to false", which tells the reader what to change.
    """
    parts: list[str] = []
    names = variables_of(*values)
    shown = " or ".join("${" + n + "}" for n in names)
    if names and flag:
        parts.append(f"{flag} is true unless {shown} is set to false")
    elif names:
        parts.append("depends on " + ", ".join("${" + n + "}" for n in names))
    if not service.enabled and service.profiles:
        word = "profile" if len(service.profiles) == 1 else "profiles"
        parts.append(f"only with {word} " + " or ".join(service.profiles))
    return f" ({'; '.join(parts)})" if parts else ""


def is_true(value: Located[bool] | None) -> bool:
    return value is not None and value.value is True


def fact(service: Service, key: str) -> str | None:
    """A runtime fact an input attached to the service (``script.kind``, ``script.reason``, ...)."""
    for name, value in service.runtime_facts:
        if name == key:
            return value
    return None


# Script commands whose container settings are not theirs to choose: a Dockerfile RUN step runs in
# a build container, `docker compose run` takes the service's settings from its Compose file, and
# a CI service such as docker:dind is configured by the runner. Asking them for cap_drop or
# no-new-privileges would only be noise.
_NOT_THEIR_SETTINGS = frozenset({"dockerfile-run", "compose-run", "gitlab-service"})


def chooses_own_settings(service: Service) -> bool:
    return fact(service, "script.kind") not in _NOT_THEIR_SETTINGS


# The last project's services by name: rules that follow references (volumes_from, service:x)
# look names up for every service, and rebuilding the map each time would be quadratic.
_by_name: list[tuple[tuple[Service, ...], dict[str, Service]]] = [((), {})]


def services_by_name(project: Project) -> dict[str, Service]:
    services, by_name = _by_name[0]
    if services is not project.services:
        by_name = {s.name: s for s in project.services}
        _by_name[0] = (project.services, by_name)
    return by_name
