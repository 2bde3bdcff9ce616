"""Keys the caller presses, gathered into one entry before the language model hears about them.

A caller typing an account number presses several keys in a row; answering after each one
would start (and cancel) a reply per digit and show the model "1", then "2", then "3". So keys
are gathered until the caller pauses (``inter_digit_s``) or presses ``#`` (the usual "done"
key), then handed over once as "The caller pressed 1, 2, 3 on the keypad." The first key still
stops the bot at once, like speech does.

Pure: time is passed in; the call's clock tick asks `due`.
"""

from __future__ import annotations

__all__ = ["DigitCollector", "keypad_message"]


def masked_keypad_message(digits: str) -> str:
    """A sensitive entry (PIN, card number): the model learns that keys were pressed, not which."""
    count = len(digits.rstrip("#")) or len(digits)
    keys = "1 key" if count == 1 else f"{count} keys"
    return f"The caller entered {keys} on the keypad (hidden: the entry is sensitive)."


def keypad_message(digits: str) -> str:
    """What the model is told; spelled out key by key, so "12" is not read as twelve."""
    return f"The caller pressed {', '.join(digits)} on the keypad."


class DigitCollector:
    """Buffers DTMF digits until a pause or the terminator."""

    __slots__ = ("_digits", "_inter_digit_s", "_last_at", "_terminator")

    def __init__(self, *, inter_digit_s: float = 1.5, terminator: str = "#") -> None:
        self._inter_digit_s = inter_digit_s
        self._terminator = terminator
        self._digits = ""
        self._last_at = 0.0

    @property
    def pending(self) -> bool:
        return bool(self._digits)

    def press(self, digit: str, now: float) -> str | None:
        """Add one key; returns the finished entry when this key ends it."""
        self._digits += digit
        self._last_at = now
        if digit == self._terminator or self._inter_digit_s <= 0:
            return self._take()
        return None

    def due(self, now: float) -> str | None:
        """The entry, once the caller has paused long enough after the last key."""
        if self._digits and now - self._last_at >= self._inter_digit_s:
            return self._take()
        return None

    def _take(self) -> str:
        digits, self._digits = self._digits, ""
        return digits
