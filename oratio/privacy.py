"""PII redaction: phone numbers, e-mail addresses, payment card numbers (Luhn-checked) and the identifiers a
tenant names in its file, replaced by labels such as `[PHONE]` — for logs and for the stored transcript the
vendor API and post-call analysis read. Caller numbers in logs are masked to their last four digits.

Phone numbers are found with Google's libphonenumber (`phonenumbers`), which knows every country's numbering
plan, at its POSSIBLE leniency (a number that could be dialled, valid or not: test and fictional 555 numbers
count). Card numbers are 13-19 digits, optionally grouped by spaces or dashes, that pass the Luhn check, so
order numbers and dates are left alone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

import phonenumbers

from oratio.config.tenant import IdentifierPattern

DEFAULT_REGION = "US"  # how national numbers without a country code are read
EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?![\w-])")
CARD_CANDIDATE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
CARD_MIN_DIGITS, CARD_MAX_DIGITS = 13, 19
MASKED_DIGITS = 4


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod 10) check every payment card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def mask_number(number: str | None) -> str | None:
    """A phone number for logs: every digit but the last four replaced ("+15551234567" -> "*******4567")."""
    if number is None:
        return None
    digits = sum(c.isdigit() for c in number)
    if digits <= MASKED_DIGITS:
        return "*" * len(number)
    seen = 0
    masked = []
    for char in number:
        if char.isdigit():
            seen += 1
            masked.append(char if seen > digits - MASKED_DIGITS else "*")
        else:
            masked.append("*" if char == "+" else char)
    return "".join(masked)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Redaction:
    """Redacted text and what was found in it (labels and counts, never the values)."""

    text: str
    findings: tuple[Finding, ...] = ()
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(self.findings)


class Redactor:
    """Finds and replaces PII in text. Built once per tenant (its identifier patterns compiled once)."""

    def __init__(self, identifiers: Iterable[IdentifierPattern] = (), region: str = DEFAULT_REGION) -> None:
        self._identifiers = [(i.name.upper(), re.compile(i.pattern)) for i in identifiers]
        self._region = region

    def find(self, text: str) -> list[Finding]:
        """Every PII span, longest first where two overlap (an identifier beats a phone-like digit run)."""
        found: list[Finding] = []
        for label, pattern in self._identifiers:
            found += [Finding(label, m.start(), m.end()) for m in pattern.finditer(text)]
        found += [Finding("EMAIL", m.start(), m.end()) for m in EMAIL.finditer(text)]
        for match in CARD_CANDIDATE.finditer(text):
            digits = re.sub(r"\D", "", match.group())
            if CARD_MIN_DIGITS <= len(digits) <= CARD_MAX_DIGITS and luhn_valid(digits):
                found.append(Finding("CARD", match.start(), match.end()))
        for number in phonenumbers.PhoneNumberMatcher(text, self._region, leniency=phonenumbers.Leniency.POSSIBLE):
            # Digits inside a longer token (a UUID, a tracking code) are part of that token, not a number.
            if _inside_token(text, number.start, number.end):
                continue
            found.append(Finding("PHONE", number.start, number.end))
        return _without_overlaps(found)

    def redact(self, text: str) -> Redaction:
        findings = self.find(text)
        if not findings:
            return Redaction(text)
        parts: list[str] = []
        position = 0
        for finding in findings:
            parts += [text[position : finding.start], f"[{finding.kind}]"]
            position = finding.end
        parts.append(text[position:])
        return Redaction("".join(parts), tuple(findings), Counter(f.kind for f in findings))


def _inside_token(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return before.isalnum() or after.isalnum() or (before == "-" and start > 1 and text[start - 2].isalnum())


def _without_overlaps(findings: list[Finding]) -> list[Finding]:
    """Keep, of overlapping spans, the earlier-starting and longer one; in text order."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (f.start, -(f.end - f.start))):
        if kept and finding.start < kept[-1].end:
            continue
        kept.append(finding)
    return kept


@cache
def default_redactor() -> Redactor:
    """The redactor without tenant identifiers (logs of code that has no tenant at hand)."""
    return Redactor()
