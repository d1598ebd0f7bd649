"""Turn a stream of model text deltas into whole sentences, so speech can start at the first one.

A sentence ends at `.`, `!`, `?` or `…` followed by a space, or at a newline. A full stop after a known
abbreviation ("Dr.", "e.g."), a single capital ("U.S.") or before a lower-case word does not end one,
and a decimal ("$4.99") never has the space that would. Run-on text longer than `max_chars` is cut at
the last comma or space so a voice caller never waits on one endless sentence.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    {
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "vs",
        "e.g",
        "i.e",
        "approx",
        "no",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "est",
        "min",
        "max",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
    }
)
TERMINATORS = ".!?…"
CLOSERS = "\"')]}\u201d\u2019"  # closing quotes and brackets, straight and curly
DEFAULT_MAX_CHARS = 220
_SOFT_BREAKS = (", ", "; ", ": ", " \u2013 ", " \u2014 ")  # comma-like marks, incl. en/em dashes


class SentenceChunker:
    """Feed text deltas in order; get complete sentences back as soon as they are complete."""

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        if max_chars < 20:
            raise ValueError("max_chars must be at least 20")
        self.max_chars = max_chars
        self._buffer = ""

    def feed(self, delta: str) -> list[str]:
        """Add a delta; return the sentences it completed (possibly none)."""
        self._buffer += delta
        out: list[str] = []
        while True:
            end = self._boundary()
            if end is None:
                if len(self._buffer) > self.max_chars:
                    end = self._soft_break()
                else:
                    break
            piece, self._buffer = self._buffer[:end], self._buffer[end:]
            piece = piece.strip()
            if piece:
                out.append(piece)
        return out

    def flush(self) -> str | None:
        """The text left over at the end of the stream (None if nothing is left)."""
        rest, self._buffer = self._buffer.strip(), ""
        return rest or None

    def _boundary(self) -> int | None:
        """End index of the first complete sentence in the buffer, if one is known to be complete yet."""
        text = self._buffer
        i = 0
        while i < len(text):
            char = text[i]
            if char == "\n":
                return i + 1
            if char not in TERMINATORS:
                i += 1
                continue
            # A run like "?!" or "..." plus closing quotes/brackets belongs to the sentence it ends.
            end = i + 1
            while end < len(text) and text[end] in TERMINATORS:
                end += 1
            while end < len(text) and text[end] in CLOSERS:
                end += 1
            if end >= len(text):
                return None  # the next delta decides
            if not text[end].isspace():
                i = end  # "4.99", "U.S.A", "example.com": not an end
                continue
            run = text[i:end].rstrip(CLOSERS)
            if set(run) <= {".", "\u2026"}:
                # A full stop or an ellipsis: abbreviations and a following lower-case word continue the sentence.
                verdict = self._ends_sentence(text, i, end) if run == "." else self._next_word_capital(text, end)
                if verdict is None:
                    return None  # only the next word can tell
                if not verdict:
                    i = end
                    continue
            return end
        return None

    @staticmethod
    def _ends_sentence(text: str, dot: int, after: int) -> bool | None:
        """Whether a lone full stop at `dot`, followed by whitespace, ends a sentence (None: not known yet)."""
        match = re.search(r"([A-Za-z][A-Za-z.]*)$", text[:dot])
        word = match.group(1) if match else ""
        if word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isupper()):
            return False
        if "." in word and all(len(part) <= 1 for part in word.split(".")):
            return False  # "U.S." / "e.g." written with their inner dots
        return SentenceChunker._next_word_capital(text, after)

    @staticmethod
    def _next_word_capital(text: str, after: int) -> bool | None:
        """False when a lower-case word follows ("approx. five", "Well… let me"); None until one arrives."""
        gap = text[after:]
        rest = gap.lstrip()
        if not rest:
            return True if "\n" in gap else None
        return not rest[0].islower()

    def _soft_break(self) -> int:
        """Where to cut an over-long run-on sentence: last comma-like break, else last space, else hard."""
        window = self._buffer[: self.max_chars]
        best = max((window.rfind(mark) for mark in _SOFT_BREAKS), default=-1)
        if best > self.max_chars // 3:
            return best + 1
        space = window.rfind(" ")
        return space + 1 if space > 0 else self.max_chars
