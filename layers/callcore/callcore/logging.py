"""Structured logs without personal data: phone masking and the Powertools Logger we use.

Named ``callcore.logging`` on purpose (the seam other packages import); it never shadows the
standard library because absolute imports inside this package say ``import logging``.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

__all__ = ["PhoneMaskingFilter", "build_logger", "mask_phone", "mask_phones_in"]

# E.164 (+ and 8-15 digits, maybe spaced), bare 10-15 digit runs, and NANP-style (415) 555-0123. Dotted
# addresses, ports, dates and timestamps do not match: masking them would make logs unreadable. A number
# that ends a sentence ("... dialled +14155550123.") is still masked.
_PHONE_IN_TEXT = re.compile(
    r"(?<![\w.:])(?:\+\d(?:[\s-]?\d){7,14}|\d{10,15}|\(?\d{3}\)?[\s-]\d{3}-\d{4})(?![\w:]|\.\d)"
)


def mask_phone(number: str | None) -> str:
    """Keep the country hint and the last two digits: enough to tell calls apart, not to dial.

    ``+14155550123`` → ``+1*******23``. Anything too short to carry a number is fully masked.
    """
    if not number:
        return ""
    digits = re.sub(r"\D", "", number)
    if len(digits) < 6:
        return "***"
    return f"+{digits[0]}{'*' * (len(digits) - 3)}{digits[-2:]}"


def mask_phones_in(text: str) -> str:
    """Mask every phone-number-looking run in free text (defence in depth for log messages)."""
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)


class PhoneMaskingFilter(logging.Filter):
    """Rewrites the message of every record so a number logged by mistake never leaves the process."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_phones_in(record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(mask_phones_in(a) if isinstance(a, str) else a for a in args)
        return True


def build_logger(service: str, **kwargs: Any) -> Logger:
    """A Powertools JSON Logger with the phone-masking filter on its handler.

    Imported lazily so modules that only need ``mask_phone`` (the stream host's hot path) do not
    pay for Powertools.
    """
    from aws_lambda_powertools import Logger

    logger: Logger = Logger(service=service, **kwargs)
    logger.registered_handler.addFilter(PhoneMaskingFilter())
    return logger
