"""The subcommands of ``leastcap``: name -> "module:attribute", each in its own module under
leastcap.cli, imported only when used (``leastcap.cli.app``)."""

from __future__ import annotations

SUBCOMMANDS: dict[str, str] = {
    "scan": "leastcap.cli.scan_cmd:scan",
    "baseline": "leastcap.cli.baseline_cmd:baseline",
    "diff": "leastcap.cli.diff_cmd:diff",
    "report": "leastcap.cli.report_cmd:report",
    "config": "leastcap.cli.scan_cmd:config",
    "rules": "leastcap.cli.rules_cmd:rules",
    "explain": "leastcap.cli.rules_cmd:explain",
    "fix": "leastcap.cli.fix_cmd:fix",
    "explain-image": "leastcap.cli.fix_cmd:explain_image",
    "profile": "leastcap.cli.profile_cmd:profile",
    "doctor": "leastcap.cli.doctor_cmd:doctor",
    "history": "leastcap.cli.history_cmd:history",
    "audit": "leastcap.cli.audit_cmd:audit",
}
