"""Keys the caller presses, gathered into one entry before the language model hears about them.

A caller typing an account number presses several keys in a row; answering after each one
would start (and cancel) a reply per digit and show the model "1", then "2", then "3". So keys
are gathered until the caller pauses (``inter_digit_s``) or presses ``#`` (the usual "done"
key), then handed over once as "The caller pressed 1, 2, 3 on the keypad." The first key still
stops the bot at once, like speech does.

Keypad digits are sensitive (a PIN, a card number): unless the persona says its entries are a
menu (``dtmf_sensitive=False``), neither the transcript nor the model ever sees which keys.

Pure: time is passed in; the call's clock tick asks `Keypad.due`. `Keypad` returns intents
(`Interrupt`, `CallerTurn`) and never touches `CallState`.
"""

from __future__ import annotations

from stream_server.behaviours.intents import CallerTurn, Intent, Interrupt

__all__ = ["DigitCollector", "Keypad", "keypad_message", "masked_keypad_message"]


def masked_keypad_message(digits: str) -> str:
    """A sensitive entry (PIN, card number): the model learns that keys were pressed, not which."""
    count = len(digits.rstrip("#")) or len(digits)
    keys = "1 key" if count == 1 else f"{count} keys"
    return f"The caller entered {keys} on the keypad (hidden: the entry is sensitive)."


def keypad_message(digits: str) -> str:
    """What the model is told; spelled out key by key, so "12" is not read as twelve."""
    return f"The caller pressed {', '.join(digits)} on the keypad."


def keypad_turn(digits: str, *, sensitive: bool) -> CallerTurn:
    """The caller's turn for a finished entry: what the transcript stores and what the model hears."""
    if sensitive:
        # Never stored or sent: the transcript and the model see how many keys, not which.
        hidden = f"(the caller pressed {len(digits)} key{'' if len(digits) == 1 else 's'}, hidden)"
        return CallerTurn(hidden, masked_keypad_message(digits))
    return CallerTurn(f"(the caller pressed {digits})", keypad_message(digits))


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


class Keypad:
    """One call's keypad: every key stops the bot; a finished entry is the caller's turn."""

    __slots__ = ("_collector", "sensitive")

    def __init__(self, *, inter_digit_s: float = 1.5, sensitive: bool = True) -> None:
        self._collector = DigitCollector(inter_digit_s=inter_digit_s)
        self.sensitive = sensitive

    @property
    def pending(self) -> bool:
        """Keys pressed but not yet handed over (the caller is typing: the line is not idle)."""
        return self._collector.pending

    def press(self, digit: str, now: float) -> list[Intent]:
        """One key from the caller."""
        entry = self._collector.press(digit, now)
        return [Interrupt()] if entry is None else [Interrupt(), keypad_turn(entry, sensitive=self.sensitive)]

    def due(self, now: float) -> list[Intent]:
        """The caller's turn, once they have paused long enough after the last key."""
        entry = self._collector.due(now)
        return [] if entry is None else [keypad_turn(entry, sensitive=self.sensitive)]
