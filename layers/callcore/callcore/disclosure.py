"""The opening disclosure: what a call must say before anything else, and when it must say it.

Rules (pure; the stream host speaks the text, `stream_server.behaviours.disclosure` keeps it from
being cut, and the call record notes when it was heard):

* A call discloses when its persona has a ``disclosure`` text, when it is recorded
  (``record: true``), or when it is a campaign call. The last two cannot be turned off: a persona
  without its own text gets `DEFAULT_AI_DISCLOSURE`. A persona's own text replaces only the AI
  sentence; it must say that the caller is an AI assistant.
* A recorded call adds a recording sentence the persona cannot reword away: `RECORDING_NOTICE`,
  or, with ``recording_consent``, `RECORDING_CONSENT_QUESTION`. Then the dial does not record
  (`recording_at_dial`); recording starts mid-call through the REST API only after a clear yes
  (`stream_server.behaviours.disclosure.consent_given`), and any other answer leaves the call
  unrecorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from callcore.models import Persona

__all__ = [
    "DEFAULT_AI_DISCLOSURE",
    "RECORDING_CONSENT_QUESTION",
    "RECORDING_NOTICE",
    "asks_recording_consent",
    "is_campaign_call",
    "opening_disclosure",
    "recording_at_dial",
]

DEFAULT_AI_DISCLOSURE = "Hello, this is {name}, an AI assistant."
RECORDING_NOTICE = "This call is recorded."
RECORDING_CONSENT_QUESTION = "May I record this call? Please say yes or no."


def is_campaign_call(metadata: Mapping[str, Any] | None) -> bool:
    """Whether a call record's metadata says a campaign placed it (`campaign_engine` sets it)."""
    return bool(metadata) and isinstance((metadata or {}).get("campaign_id"), str)


def asks_recording_consent(persona: Persona) -> bool:
    return persona.record and persona.recording_consent


def recording_at_dial(persona: Persona) -> bool:
    """Record from the start (``Record=true`` on the dial): only without a consent question."""
    return persona.record and not persona.recording_consent


def opening_disclosure(persona: Persona, *, campaign_call: bool) -> str | None:
    """The text to speak before the greeting, or None when this call need not disclose.

    ``persona`` is the persona as the call speaks it (placeholders already filled).
    """
    if not (persona.disclosure or persona.record or campaign_call):
        return None
    ai = persona.disclosure or DEFAULT_AI_DISCLOSURE.format(name=persona.name)
    if not persona.record:
        return ai
    return f"{ai} {RECORDING_CONSENT_QUESTION if persona.recording_consent else RECORDING_NOTICE}"
