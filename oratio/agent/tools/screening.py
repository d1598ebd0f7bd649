"""Prompt-injection screening for tools that change something outside Oratio (orders, bookings, refunds).

A model can be talked into calling a writing tool by text that poses as instructions. Before such a tool
runs, the customer's words and every string argument are checked against known injection markers; a hit
stops the call. This is a tripwire for the common, cheap attacks, not a proof of safety: writing tools
must still authorise on their own side.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# The one place the markers live: (name, pattern). Names go to logs; matched text never does.
# Patterns are matched case-insensitively against NFKC-normalised text with whitespace collapsed.
INJECTION_MARKERS: tuple[tuple[str, str], ...] = (
    (
        "override_instructions",
        r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+|every\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+|these\s+)?"
        r"(?:previous|prior|above|earlier|preceding|former|original|system)\s+"
        r"(?:instructions?|prompts?|rules|directions|directives|messages|guidelines)",
    ),
    ("new_instructions", r"\b(?:new|updated|real|actual)\s+(?:system\s+)?instructions\s*:"),
    ("system_prompt", r"\bsystem\s+prompt\b"),
    ("reveal_instructions", r"\b(?:reveal|print|show|repeat|output)\s+(?:me\s+)?your\s+(?:hidden\s+)?instructions\b"),
    (
        "persona_switch",
        r"\byou\s+are\s+now\s+(?:a|an|my|the|in|no\s+longer|free|unrestricted|jailbroken|dan)\b",
    ),
    ("from_now_on", r"\bfrom\s+now\s+on,?\s+you\s+(?:are|will|must|shall)\b"),
    (
        "roleplay_jailbreak",
        r"\b(?:pretend|act|role-?play)\s+(?:to\s+be|as\s+if|as|that\s+you)\b.{0,40}"
        r"\b(?:no|without|any)\s+(?:rules|restrictions|limits|filters|guidelines)\b",
    ),
    ("jailbreak_terms", r"\b(?:jailbreak|jailbroken|developer\s+mode|do\s+anything\s+now|dan\s+mode)\b"),
    ("chat_template_token", r"<\|(?:im_start|im_end|system|user|assistant|endoftext)\|>|\[/?INST\]|<<\s*/?SYS\s*>>"),
    ("fake_system_block", r"\bBEGIN\s+(?:SYSTEM|INSTRUCTIONS?|PROMPT)\b|</?\s*system\s*>|^\s*#{2,}\s*system\b"),
)

# Long unbroken runs of base64 alphabet can smuggle encoded instructions past the patterns above.
BASE64_MIN_CHARS = 40
_BASE64_RUN = re.compile(rf"[A-Za-z0-9+/]{{{BASE64_MIN_CHARS},}}={{0,2}}")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ScreenHit:
    """Which marker matched (its name only: the matched text may be an attack and stays out of logs)."""

    marker: str


def _looks_like_base64(run: str) -> bool:
    # Plain words, hex digests and order numbers rarely mix upper case, lower case and digits over 40+
    # characters; encoded payloads almost always do (or end in padding).
    body = run.rstrip("=")
    return run.endswith("=") or (
        any(c.isupper() for c in body) and any(c.islower() for c in body) and any(c.isdigit() for c in body)
    )


class InjectionScreen:
    """Checks text for prompt-injection markers; `screen` returns the first hit or None."""

    def __init__(self, markers: Iterable[tuple[str, str]] = INJECTION_MARKERS, *, detect_base64: bool = True) -> None:
        self._markers = tuple(
            (name, re.compile(pattern, re.IGNORECASE | re.MULTILINE | re.DOTALL)) for name, pattern in markers
        )
        self._detect_base64 = detect_base64

    def screen(self, texts: Iterable[str]) -> ScreenHit | None:
        """The first marker found in any of `texts`, or None when they all look like ordinary input."""
        for text in texts:
            normalised = _normalise(text)
            for name, pattern in self._markers:
                if pattern.search(normalised):
                    return ScreenHit(name)
            # Base64 is case-sensitive: look at the text before case folding and whitespace collapsing.
            if self._detect_base64 and any(_looks_like_base64(m.group()) for m in _BASE64_RUN.finditer(text)):
                return ScreenHit("base64_blob")
        return None

    def screen_call(self, user_text: str | None, arguments: dict[str, Any]) -> ScreenHit | None:
        """Screen what the customer said and every string inside a tool call's arguments (keys included)."""
        texts: list[str] = [user_text] if user_text else []
        texts.extend(_strings(arguments))
        return self.screen(texts)


def _normalise(text: str) -> str:
    # NFKC folds full-width and other look-alike characters; zero-width characters are a known way to
    # split a marker so a plain pattern misses it.
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    return "\n".join(_WHITESPACE.sub(" ", line) for line in text.splitlines())


def _strings(value: Any) -> Iterator[str]:
    # Iterative walk; the executor size-checks arguments first, so the work per call is bounded.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, nested in item.items():
                stack.append(nested)
                if isinstance(key, str):
                    stack.append(key)
        elif isinstance(item, list | tuple):
            stack.extend(item)
