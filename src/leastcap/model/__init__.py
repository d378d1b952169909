"""The one model every input becomes: files on disk, git blobs, running containers, scripts.

Rules, the fixer and every reporter see only these frozen types, never raw YAML or dicts.
"""

from leastcap.model.finding import Confidence, Finding, Severity, Suppression
from leastcap.model.fix import Edit, EditAction, Fix, FixSafety
from leastcap.model.location import Located, Location
from leastcap.model.report import Report
from leastcap.model.service import (
    Device,
    Hook,
    Mount,
    Problem,
    Project,
    Service,
    SourceKind,
)

__all__ = [
    "Confidence",
    "Device",
    "Edit",
    "EditAction",
    "Finding",
    "Fix",
    "FixSafety",
    "Hook",
    "Located",
    "Location",
    "Mount",
    "Problem",
    "Project",
    "Report",
    "Service",
    "Severity",
    "SourceKind",
    "Suppression",
]
