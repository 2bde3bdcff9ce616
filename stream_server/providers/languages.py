"""Persona language tags as the speech vendors want them.

Personas may carry a region tag (``en-US``, ``pt_BR``) because that is how people write a
language; ElevenLabs wants the bare ISO-639 code: Scribe documents "an ISO-639-1 or ISO-639-3
language_code" and answers anything else with `invalid_request` followed by a close, and TTS
documents ISO 639-1. The region is dropped here, at the adapter, so no vendor ever sees it.
"""

from __future__ import annotations

__all__ = ["base_language"]


def base_language(tag: str) -> str:
    """``en-US`` -> ``en``, ``pt_BR`` -> ``pt``, ``FR`` -> ``fr``; ``""`` stays ``""``."""
    return tag.replace("_", "-").split("-", 1)[0].strip().lower()
