"""Which provider serves each stage, and how to reach it, read once from the environment.

The rule the whole project relies on: with no API keys set, every stage is `offline`, so a fresh
clone holds a real conversation with no account and no network. A stage set to a vendor without
its key is a configuration mistake and fails at start-up, never in the middle of a call.
Secrets are kept out of `repr` so a settings object can be logged safely.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_CEREBRAS_BASE_URL",
    "DEFAULT_CEREBRAS_MODEL",
    "DEFAULT_ELEVENLABS_BASE_URL",
    "FALLBACK_VOICE_ID",
    "ProviderConfigError",
    "ProviderSettings",
]

DEFAULT_ELEVENLABS_BASE_URL = "https://api.elevenlabs.io"
DEFAULT_CEREBRAS_BASE_URL = "https://api.cerebras.ai"
DEFAULT_CEREBRAS_MODEL = "gpt-oss-120b"
FALLBACK_VOICE_ID = "21m00Tcm4TlvDq8ikWAM"
"""An ElevenLabs premade voice ("Rachel"), for the apology and a call whose persona could not be
loaded. ElevenLabs has no voice called "default": a made-up id would be a 404 on every sentence.
The offline engine ignores vendor ids and follows the language, so this is safe with it too."""

SttChoice = Literal["elevenlabs", "offline"]
LlmChoice = Literal["cerebras", "offline"]
TtsChoice = Literal["elevenlabs", "offline"]
ReasoningEffort = Literal["none", "low", "medium", "high"]


class ProviderConfigError(ValueError):
    """The provider environment is inconsistent (unknown provider, vendor without a key)."""


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """Everything the adapters need; built by `from_env` or directly in tests."""

    stt_provider: SttChoice = "offline"
    llm_provider: LlmChoice = "offline"
    tts_provider: TtsChoice = "offline"
    elevenlabs_api_key: str | None = field(default=None, repr=False)
    elevenlabs_base_url: str = DEFAULT_ELEVENLABS_BASE_URL
    cerebras_api_key: str | None = field(default=None, repr=False)
    cerebras_base_url: str = DEFAULT_CEREBRAS_BASE_URL
    cerebras_model: str = DEFAULT_CEREBRAS_MODEL
    cerebras_reasoning_effort: ReasoningEffort = "low"
    cerebras_max_completion_tokens: int = 400
    cerebras_timeout_seconds: float = 15.0
    cerebras_max_retries: int = 1
    elevenlabs_tts_model: str = "eleven_flash_v2_5"
    elevenlabs_stt_model: str = "scribe_v2_realtime"
    elevenlabs_timeout_seconds: float = 10.0
    elevenlabs_max_retries: int = 1
    tts_chunk_bytes: int | None = None
    """HTTP read size for TTS audio; None: each read as it arrives, so the first audio is never held
    back and audio that arrived together leaves together (the conversation cuts it into marked
    pieces of at most 200 ms, `telephony.playback.MAX_MEDIA_BYTES`)."""

    def __post_init__(self) -> None:
        if self.stt_provider == "elevenlabs" and not self.elevenlabs_api_key:
            raise ProviderConfigError("STT_PROVIDER=elevenlabs needs ELEVENLABS_API_KEY")
        if self.tts_provider == "elevenlabs" and not self.elevenlabs_api_key:
            raise ProviderConfigError("TTS_PROVIDER=elevenlabs needs ELEVENLABS_API_KEY")
        if self.llm_provider == "cerebras" and not self.cerebras_api_key:
            raise ProviderConfigError("LLM_PROVIDER=cerebras needs CEREBRAS_API_KEY")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProviderSettings:
        """Read the public variables (the README's table); unset provider = vendor iff its key is set."""
        source = os.environ if env is None else env
        eleven_key = _non_empty(source.get("ELEVENLABS_API_KEY"))
        cerebras_key = _non_empty(source.get("CEREBRAS_API_KEY"))
        eleven_default = "elevenlabs" if eleven_key else "offline"
        cerebras_default = "cerebras" if cerebras_key else "offline"
        return cls(
            stt_provider=_choice(source, "STT_PROVIDER", ("elevenlabs", "offline"), eleven_default),  # type: ignore[arg-type]
            llm_provider=_choice(source, "LLM_PROVIDER", ("cerebras", "offline"), cerebras_default),  # type: ignore[arg-type]
            tts_provider=_choice(source, "TTS_PROVIDER", ("elevenlabs", "offline"), eleven_default),  # type: ignore[arg-type]
            elevenlabs_api_key=eleven_key,
            elevenlabs_base_url=_non_empty(source.get("ELEVENLABS_BASE_URL")) or DEFAULT_ELEVENLABS_BASE_URL,
            cerebras_api_key=cerebras_key,
            cerebras_base_url=_non_empty(source.get("CEREBRAS_BASE_URL")) or DEFAULT_CEREBRAS_BASE_URL,
            cerebras_model=_non_empty(source.get("CEREBRAS_MODEL")) or DEFAULT_CEREBRAS_MODEL,
        )


def _non_empty(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def _choice(source: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (_non_empty(source.get(name)) or default).lower()
    if value not in allowed:
        raise ProviderConfigError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value
