"""Cutting a streamed LLM reply into speakable pieces, as early as is safe.

TTS quality needs whole sentences (prosody), latency needs the first audio soon. So the splitter
emits each sentence the moment its end is certain, and the *first* piece of a reply may be cut
early at a comma (or ; : -) once it is long enough, because that first audio is what the caller
waits for. A period is not always an end: "Dr. Smith", "e.g. this", "3.5 kg", "J. R. R." and a
trailing ellipsis followed by lower case are kept together.

Pure and incremental: feed text deltas, get pieces back; no I/O, no clock.
"""

from __future__ import annotations

import re

__all__ = ["ABBREVIATIONS", "SentenceSplitter"]

ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "etc", "inc", "ltd",
        "co", "corp", "dept", "no", "approx", "apt", "ave", "blvd", "rd", "jan", "feb", "mar",
        "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed",
        "thu", "fri", "sat", "sun", "e.g", "i.e", "a.m", "p.m", "u.s", "min", "max", "tel",
    }
)  # fmt: skip
_SENTENCE_END = frozenset(".!?")
_SOFT_BREAK = frozenset(",;:")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


class SentenceSplitter:
    """Incremental sentence splitter for one reply.

    Args:
        first_flush_chars: the first piece may end at a comma once it has this many characters.
        max_chars: a piece with no boundary is cut at the last space past this length, so a
            run-on reply still starts speaking.
    """

    def __init__(self, *, first_flush_chars: int = 40, max_chars: int = 300) -> None:
        self._buffer = ""
        self._scan = 0
        self._emitted = 0
        self._first_flush_chars = first_flush_chars
        self._max_chars = max_chars

    def push(self, delta: str) -> list[str]:
        """Add a text delta; returns the pieces it completed (often none)."""
        self._buffer += delta
        pieces: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            piece = self._buffer[:cut].strip()
            self._buffer = self._buffer[cut:].lstrip()
            self._scan = 0
            if piece:
                pieces.append(piece)
                self._emitted += 1
        return pieces

    def flush(self) -> list[str]:
        """End of the reply: whatever is left is the last piece."""
        rest = self._buffer.strip()
        self._buffer, self._scan = "", 0
        if rest:
            self._emitted += 1
            return [rest]
        return []

    def _find_cut(self) -> int | None:
        text = self._buffer
        i = self._scan
        while i < len(text) - 1:
            ch = text[i]
            nxt = text[i + 1]
            if ch == "\n":
                return i + 1
            if ch in _SENTENCE_END and nxt.isspace():
                verdict = self._is_real_end(text, i)
                if verdict is None:
                    self._scan = i
                    return None
                if verdict:
                    return i + 1
            elif ch in _SENTENCE_END and nxt in "\"')]":
                if i + 2 < len(text) and text[i + 2].isspace():
                    return i + 2
            elif (
                self._emitted == 0
                and ch in _SOFT_BREAK
                and nxt.isspace()
                and i + 1 >= self._first_flush_chars
            ):
                return i + 1
            i += 1
        # Rescan the tail next time: a final '.' or '."' needs the characters after it.
        self._scan = max(0, len(text) - 2)
        if len(text) > self._max_chars:
            space = text.rfind(" ", 0, self._max_chars)
            if space > 0:
                return space
        return None

    @staticmethod
    def _is_real_end(text: str, i: int) -> bool | None:
        """True/False for a period followed by space; None when the next word must be seen."""
        if text[i] != ".":
            return True
        following = text[i + 1 :].lstrip()
        if i >= 2 and text[i - 2 : i + 1] == "...":
            # An ellipsis ends a sentence only if what follows starts a new one.
            return None if not following else not following[0].islower()
        match = _WORD_BEFORE.search(text[:i])
        if match is None:
            return True
        word = match.group(1)
        if word.lower().rstrip(".") in ABBREVIATIONS:
            # "etc." can end a sentence; it does when a capital follows it.
            if word.lower() != "etc":
                return False
            return None if not following else following[0].isupper()
        # A single capital is an initial, as in "J. Smith".
        return not (len(word) == 1 and word.isupper())
