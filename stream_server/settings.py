"""The stream host's settings: one frozen object, read once from the environment at start-up.

Shared names (TABLE_NAME, STREAM_PUBLIC_URL, PORT, provider keys...) come from
`callcore.settings.Settings`; this adds what only the stream host needs (drain, capacity,
turn-taking tunables, provider timeouts). Every variable has a default that works locally.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from callcore.settings import Settings

from stream_server.conversation import phrases
from stream_server.providers.config import FALLBACK_VOICE_ID
from stream_server.speech.pipeline import PipelineSettings
from stream_server.turn_taking.detector import TurnSettings

__all__ = ["StreamSettings"]


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Everything the stream host process reads from its environment."""

    core: Settings = field(default_factory=Settings)
    bind_host: str = "127.0.0.1"
    drain_deadline_seconds: float = 110.0
    max_calls: int = 100
    # A media socket must authenticate (start + a valid stream token) this soon, or it is closed.
    auth_deadline_seconds: float = 5.0
    turn: TurnSettings = field(default_factory=TurnSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    metrics_namespace: str = "AiPhoneCalls"
    emf_agent_endpoint: str = ""  # udp://host:port of the CloudWatch agent; empty = EMF lines on stdout
    emf_log_group: str | None = None
    log_level: str = "INFO"
    apology_voice_id: str = FALLBACK_VOICE_ID
    # Set by ECS on Fargate (task protection, the ActiveCalls metric); empty when run elsewhere.
    ecs_agent_uri: str = ""
    apology_text: str = phrases.APOLOGY
    # Call behaviours (docs/call-behaviours.md).
    filler_after_seconds: float = 0.9
    duration_warning_before_seconds: float = 60.0
    dtmf_inter_digit_seconds: float = 1.5
    send_digits_tool: bool = False
    persona_cache_seconds: float = 300.0
    # "asyncio" (the stdlib's loop) or "uvloop" (libuv's); make bench measures both (docs/performance.md).
    event_loop: str = "asyncio"

    @property
    def port(self) -> int:
        return self.core.port

    @property
    def media_path(self) -> str:
        """The WebSocket path, taken from STREAM_PUBLIC_URL so TwiML and server always agree."""
        return urlsplit(self.core.stream_public_url).path or "/"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StreamSettings:
        e = os.environ if env is None else env
        turn = TurnSettings(
            vad_aggressiveness=_int(e, "VAD_AGGRESSIVENESS", 2, 0, 3),
            energy_floor_dbfs=_float(e, "VAD_ENERGY_FLOOR_DBFS", -50.0, -120.0, 0.0),
            min_speech_ms=_int(e, "TURN_MIN_SPEECH_MS", 100, 20, 5_000),
            barge_in_ms=_int(e, "BARGE_IN_MS", 240, 20, 5_000),
            speech_gap_ms=_int(e, "SPEECH_GAP_MS", 100, 0, 2_000),
            min_end_of_turn_silence_ms=_int(e, "END_OF_TURN_MIN_SILENCE_MS", 250, 50, 10_000),
            max_end_of_turn_silence_ms=_int(e, "END_OF_TURN_MAX_SILENCE_MS", 1600, 100, 10_000),
            semantic_end_of_turn=_bool(e, "SEMANTIC_END_OF_TURN", True),
            false_interruption_ms=_int(e, "FALSE_INTERRUPTION_MS", 900, 100, 10_000),
            speculative_replies=_bool(e, "SPECULATIVE_REPLIES", True),
            echo_suppression=_bool(e, "ECHO_SUPPRESSION", True),
            stt_commit_silence_ms=_int(e, "STT_COMMIT_SILENCE_MS", 200, 60, 5_000),
            stt_final_timeout_ms=_int(e, "STT_FINAL_TIMEOUT_MS", 2000, 200, 30_000),
        )
        if turn.min_end_of_turn_silence_ms > turn.max_end_of_turn_silence_ms:
            raise ValueError("END_OF_TURN_MIN_SILENCE_MS must not exceed END_OF_TURN_MAX_SILENCE_MS")
        pipeline = PipelineSettings(
            llm_first_token_timeout_s=_float(e, "LLM_FIRST_TOKEN_TIMEOUT_SECONDS", 5.0, 0.1, 120.0),
            llm_idle_timeout_s=_float(e, "LLM_FIRST_TOKEN_TIMEOUT_SECONDS", 5.0, 0.1, 120.0),
            tts_first_byte_timeout_s=_float(e, "TTS_FIRST_BYTE_TIMEOUT_SECONDS", 5.0, 0.1, 120.0),
            tts_idle_timeout_s=_float(e, "TTS_FIRST_BYTE_TIMEOUT_SECONDS", 5.0, 0.1, 120.0),
            max_attempts=_int(e, "PROVIDER_MAX_ATTEMPTS", 2, 1, 5),
            first_flush_chars=_int(e, "FIRST_FLUSH_CHARS", 40, 1, 1000),
        )
        return cls(
            core=Settings.from_env(e),
            auth_deadline_seconds=_float(e, "STREAM_AUTH_DEADLINE_SECONDS", 5.0, 0.5, 60.0),
            bind_host=e.get("BIND_HOST", "").strip() or "127.0.0.1",
            drain_deadline_seconds=_float(e, "DRAIN_DEADLINE_SECONDS", 110.0, 0.0, 3600.0),
            max_calls=_int(e, "MAX_CALLS", 100, 1, 100_000),
            turn=turn,
            pipeline=pipeline,
            metrics_namespace=e.get("METRICS_NAMESPACE", "").strip() or "AiPhoneCalls",
            emf_agent_endpoint=e.get("EMF_AGENT_ENDPOINT", "").strip(),
            emf_log_group=e.get("EMF_LOG_GROUP", "").strip() or None,
            log_level=e.get("LOG_LEVEL", "").strip().upper() or "INFO",
            apology_voice_id=e.get("APOLOGY_VOICE_ID", "").strip() or FALLBACK_VOICE_ID,
            ecs_agent_uri=e.get("ECS_AGENT_URI", "").strip(),
            filler_after_seconds=_float(e, "FILLER_AFTER_SECONDS", 0.9, 0.1, 30.0),
            duration_warning_before_seconds=_float(e, "DURATION_WARNING_BEFORE_SECONDS", 60.0, 0.0, 3600.0),
            dtmf_inter_digit_seconds=_float(e, "DTMF_INTER_DIGIT_SECONDS", 1.5, 0.1, 10.0),
            send_digits_tool=_bool(e, "SEND_DIGITS_TOOL", False),
            event_loop=_choice(e, "STREAM_EVENT_LOOP", "asyncio", ("asyncio", "uvloop")),
        )
