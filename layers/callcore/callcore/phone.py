"""Phone-number rules for the dialer: E.164 syntax and the destination allow-list.

An open dialer is a toll-fraud hole, so the trigger refuses any destination whose country calling
code is not explicitly allowed (ALLOWED_COUNTRY_CODES, default ``1``). Matching is by longest
prefix, so an entry like ``1`` allows all of NANP while ``44`` and ``353`` add the UK and Ireland.
"""

from __future__ import annotations

import re

from callcore.logging import mask_phone

__all__ = ["PhoneNumberError", "calling_code", "is_e164", "mask_phone", "require_allowed_destination"]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class PhoneNumberError(ValueError):
    """A number we must not dial; ``code`` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_e164(number: object) -> bool:
    """``+`` then 7 to 15 digits, first digit non-zero (ITU-T E.164; no spaces or punctuation)."""
    return isinstance(number, str) and bool(_E164.match(number))


def calling_code(number: str, allowed_codes: tuple[str, ...]) -> str | None:
    """The longest allowed calling code that prefixes ``number``, or None if none does."""
    digits = number.lstrip("+")
    matches = [code for code in allowed_codes if digits.startswith(code)]
    return max(matches, key=len) if matches else None


def require_allowed_destination(number: object, allowed_codes: tuple[str, ...]) -> str:
    """Return the number if it is valid E.164 in an allowed country, else raise PhoneNumberError."""
    if not is_e164(number):
        raise PhoneNumberError("invalid_phone_number", "'to' must be an E.164 number such as +14155550123")
    assert isinstance(number, str)
    if calling_code(number, allowed_codes) is None:
        allowed = ", ".join(f"+{c}" for c in allowed_codes) or "none"
        raise PhoneNumberError(
            "destination_not_allowed",
            f"destination {mask_phone(number)} is outside the allowed country codes ({allowed})",
        )
    return number
