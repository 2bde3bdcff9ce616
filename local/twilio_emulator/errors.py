"""Twilio's error vocabulary, as the emulator reports it.

Twilio reports two kinds of failure: REST errors (an HTTP status plus a JSON body with `code`,
`message`, `more_info`, `status`) and call errors (a numbered error attached to a live call, e.g.
12100 when the TwiML does not parse). Both carry the same numeric codes, so one type serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "APPLICATION_ERROR",
    "DOCUMENT_PARSE_FAILURE",
    "HTTP_RETRIEVAL_FAILURE",
    "INVALID_CALL_STATE",
    "SCHEMA_WARNING",
    "STREAM_CLOSE_ERROR",
    "STREAM_CONNECTION_REFUSED",
    "STREAM_HANDSHAKE_ERROR",
    "STREAM_MALFORMED_URL",
    "STREAM_PROTOCOL_ERROR",
    "STREAM_URL_SCHEME",
    "TwilioError",
]

DOCUMENT_PARSE_FAILURE = 12100
SCHEMA_WARNING = 12200
HTTP_RETRIEVAL_FAILURE = 11200
# "Invalid call state": a realtime operation (redirect, recording) on a call not in progress.
INVALID_CALL_STATE = 21220
STREAM_CONNECTION_REFUSED = 31902
STREAM_HANDSHAKE_ERROR = 31920
STREAM_CLOSE_ERROR = 31921
STREAM_URL_SCHEME = 31922
STREAM_MALFORMED_URL = 31923
STREAM_PROTOCOL_ERROR = 31924

# What a caller hears when Twilio cannot run the application (fetch or parse failures).
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."


@dataclass(frozen=True)
class TwilioError(Exception):
    """One numbered Twilio error; `status` is the HTTP status when it answers a REST request."""

    code: int
    message: str
    status: int = 400

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def more_info(self) -> str:
        return f"https://www.twilio.com/docs/errors/{self.code}"

    def to_json(self) -> dict[str, Any]:
        """The REST error body, shaped as Twilio's (and as twilio-python's exception parser expects)."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": self.more_info,
            "status": self.status,
        }
