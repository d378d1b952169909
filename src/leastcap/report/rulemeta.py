"""Rule metadata as the reporters need it, read from the rule classes (slug, summary, docstring).

Reporters never import the rule modules themselves: they receive a catalogue, which defaults to the
registry. Tests pass their own small rule classes, so golden output does not move when a real rule's
wording changes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from leastcap.model import Confidence, Finding, Severity

# Where the rendered rule docs live; one anchor per slug. SARIF's helpUri and the text output use it.
DOCS_URL = "https://github.com/leastcap/leastcap/blob/main/docs/rules.md"
INFORMATION_URI = "https://github.com/leastcap/leastcap"

# The fixed docstring sections (Rule base class contract), in display order. Aliases map the
# spellings a docstring may use onto the canonical name.
SECTIONS = ("What it does", "Why is this bad", "Example", "Fix")
_SECTION_ALIASES = {
    "what it does": "What it does",
    "why is this bad": "Why is this bad",
    "why is this bad?": "Why is this bad",
    "example": "Example",
    "examples": "Example",
    "fix": "Fix",
    "use instead": "Fix",
    "how to fix": "Fix",
    "references": "References",
    "options": "Options",
}
_UNDERLINE = re.compile(r"^\s*(-{3,}|={3,}|~{3,})\s*$")


@dataclass(frozen=True, slots=True)
class RuleInfo:
    slug: str
    summary: str
    severity: Severity
    confidence: Confidence = Confidence.HIGH
    cis: tuple[str, ...] = ()
    cis_version: str = ""
    doc: str = ""
    help_uri: str = ""
    # Whether ``leastcap fix`` answers the rule's findings: "yes", "with --all" or "no" (Rule.fixable).
    fix: str = "no"
    # (section name, body) in the order written; empty when the docstring has no known headings.
    sections: tuple[tuple[str, str], ...] = field(default=())

    def cis_items(self) -> tuple[str, ...]:
        """The CIS items with their benchmark version (``v1.6.0 5.5``)."""
        version = f"v{self.cis_version} " if self.cis_version else ""
        return tuple(version + item for item in self.cis)

    @property
    def uri(self) -> str:
        return self.help_uri or f"{DOCS_URL}#{self.slug}"

    def section(self, name: str) -> str:
        for title, body in self.sections:
            if title == name:
                return body
        return ""

    @property
    def intro(self) -> str:
        """The docstring's text before its first section heading."""
        if not self.sections:
            return self.doc.strip()
        lines: list[str] = []
        for line in self.doc.splitlines():
            if _heading(line) is not None:
                break
            lines.append(line)
        return "\n".join(lines).strip()

    def markdown(self) -> str:
        """The docs as Markdown: the summary, the intro, then one ``##`` heading per section."""
        parts = [f"**{self.summary}**"]
        if self.intro:
            parts.append(self.intro)
        for title, body in self.sections:
            parts.append(f"## {title}\n\n{body}")
        return "\n\n".join(parts) + "\n"


def _heading(line: str) -> str | None:
    text = line.strip().lstrip("#").strip().rstrip(":").strip()
    return _SECTION_ALIASES.get(text.lower())


def parse_sections(doc: str) -> tuple[tuple[str, str], ...]:
    """Split a rule docstring into its sections, accepting ``## X``, ``X:`` and underlined ``X``."""
    lines = doc.splitlines()
    found: list[tuple[str, list[str]]] = []
    in_fence = False
    i = 0
    while i < len(lines):
        # A YAML example's `fix:` or `example:` key inside a code fence is not a heading.
        if lines[i].lstrip().startswith("```"):
            in_fence = not in_fence
        name = None if in_fence else _heading(lines[i])
        if name is not None:
            found.append((name, []))
            if i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]):
                i += 1
        elif found:
            found[-1][1].append(lines[i])
        i += 1
    return tuple((name, "\n".join(body).strip("\n").rstrip()) for name, body in found)


def info_from_rule(rule: object) -> RuleInfo:
    """Metadata of a Rule subclass or instance (anything with the Rule class attributes)."""
    cls = rule if isinstance(rule, type) else type(rule)
    doc = inspect.getdoc(cls) or ""
    # A subclass without its own docstring inherits the base class's: that is not rule documentation.
    if cls.__doc__ is None:
        doc = ""
    return RuleInfo(
        slug=str(cls.slug),  # type: ignore[attr-defined]
        summary=str(getattr(cls, "summary", "")),
        severity=Severity(getattr(cls, "severity", Severity.MEDIUM)),
        confidence=Confidence(getattr(cls, "confidence", Confidence.HIGH)),
        cis=tuple(str(c) for c in getattr(cls, "cis", ())),
        cis_version=str(getattr(cls, "cis_version", "")),
        doc=doc,
        help_uri=str(getattr(cls, "help_uri", "") or ""),
        fix=str(getattr(getattr(cls, "fixable", None), "value", "no")),
        sections=parse_sections(doc),
    )


def registry_rules() -> tuple[RuleInfo, ...]:
    """Every registered rule, of every kind (the exception-* and drift findings are in reports too).
    Imported here, not at the top: reporters that are given a catalogue never load the rules."""
    from leastcap.rules.registry import ALL_RULES

    return tuple(info_from_rule(r) for r in ALL_RULES)


def catalogue(rules: Iterable[object] | None) -> dict[str, RuleInfo]:
    """slug -> RuleInfo from rule classes/instances/RuleInfo, or from the registry when None."""
    infos = (
        registry_rules() if rules is None else tuple(r if isinstance(r, RuleInfo) else info_from_rule(r) for r in rules)
    )
    return {info.slug: info for info in sorted(infos, key=lambda i: i.slug)}


def info_for(slug: str, rules: Mapping[str, RuleInfo], findings: Iterable[Finding] = ()) -> RuleInfo:
    """The catalogue entry for ``slug``, or a minimal one built from its findings (an unknown rule
    still gets valid SARIF metadata instead of a crash)."""
    known = rules.get(slug)
    if known is not None:
        return known
    severities = [f.severity for f in findings if f.rule == slug]
    return RuleInfo(slug=slug, summary=slug, severity=max(severities, default=Severity.MEDIUM))
