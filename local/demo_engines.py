"""Which speech and language engines `make demo` runs, and the scripted stand-ins it uses by default.

The offline recogniser (PocketSphinx) cannot follow telephone-quality eSpeak audio well enough for
a conversation that makes sense, and the offline language model only matches prompt sentences. So,
unless told otherwise, the demo runs the *real* ElevenLabs Scribe and Cerebras adapters of the
stream host against the local wire-protocol fakes (`local/fake_providers/`): the fake recogniser is
given the emulated caller's lines (it follows their timing on the audio, it does not recognise
speech), and the fake LLM answers with replies written for this one conversation. Speech is still
eSpeak NG, so the recording is audible. The demo says all this plainly when it starts.

Explicit settings win: `STT_PROVIDER` / `LLM_PROVIDER` / `TTS_PROVIDER` (e.g. `offline`) or
provider keys in the environment run exactly what they select.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEMO_REPLIES",
    "DemoEngines",
    "choose_demo_engines",
    "demo_reply",
    "start_scripted_engines",
]

# What the bot answers to each caller line of local.demo.DEMO_SCRIPT, keyed by words in the line. They
# fit the demo's call: a morning appointment (local.demo.DEMO_VARIABLES) the caller asks to move to the
# afternoon. The closing "goodbye" is not here: the stream host recognises it and says the persona's goodbye.
DEMO_REPLIES: tuple[tuple[str, str], ...] = (
    (
        r"\bmoment\b",
        "Thank you. Can you still come in at that time?",
    ),
    (
        r"\b(afternoon|move|reschedule)\b",
        "Of course. I'll note that you'd like an afternoon appointment instead, "
        "and the clinic will call you back with a time. Is there anything else?",
    ),
)
_FALLBACK = "Sorry, I didn't quite catch that. Could you say it again?"
_SELECTORS = ("STT_PROVIDER", "LLM_PROVIDER", "TTS_PROVIDER", "ELEVENLABS_API_KEY", "CEREBRAS_API_KEY")


def demo_reply(messages: list[dict[str, Any]]) -> str:
    """The scripted LLM's reply to the caller's last line (OpenAI-style chat messages)."""
    caller = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
    for pattern, reply in DEMO_REPLIES:
        if re.search(pattern, caller, re.IGNORECASE):
            return reply
    return _FALLBACK


def demo_analysis(messages: list[dict[str, Any]], schema: dict[str, Any]) -> str:
    """The scripted model's post-call analysis: callcore's deterministic keyword extractor."""
    from callcore.analysis import offline_extract

    system = str(messages[0].get("content") or "") if messages else ""
    user = str(messages[-1].get("content") or "") if messages else ""
    return json.dumps(offline_extract(system, user, schema))


@dataclass(frozen=True)
class DemoEngines:
    """The demo's engine choice: ``scripted`` (fakes behind the real adapters) or ``configured``."""

    mode: str
    description: tuple[str, ...]
    caller_lines: tuple[str, ...] = field(default=())
    offline_recogniser: bool = False  # PocketSphinx may miss the goodbye: the caller hangs up itself

    @property
    def scripted(self) -> bool:
        return self.mode == "scripted"


def _configured_engine(env: Mapping[str, str], stage: str, real: str, key: str) -> str:
    chosen = env.get(f"{stage}_PROVIDER") or (real.lower().split()[0] if env.get(key) else "offline")
    if chosen == "offline":
        return {
            "STT": "PocketSphinx (offline; weak on telephone audio, expect misheard lines)",
            "LLM": "the offline scripted engine (matches prompt sentences)",
            "TTS": "eSpeak NG (offline)",
        }[stage]
    return f"{real} at {env.get(key.replace('API_KEY', 'BASE_URL')) or 'the real service'}"


def choose_demo_engines(env: Mapping[str, str], caller_lines: Sequence[str]) -> DemoEngines:
    """Scripted fakes unless the environment picks engines or holds provider keys. Pure."""
    if any(env.get(name) for name in _SELECTORS):
        stt = _configured_engine(env, "STT", "ElevenLabs Scribe", "ELEVENLABS_API_KEY")
        llm = _configured_engine(env, "LLM", "Cerebras", "CEREBRAS_API_KEY")
        tts = _configured_engine(env, "TTS", "ElevenLabs", "ELEVENLABS_API_KEY")
        offline = stt.startswith("PocketSphinx")
        note = ("the caller hangs up itself: the offline recogniser may not hear its goodbye",)
        return DemoEngines(
            mode="configured",
            description=(f"speech-to-text: {stt}", f"language model: {llm}", f"text-to-speech: {tts}")
            + (note if offline else ()),
            offline_recogniser=offline,
        )
    return DemoEngines(
        mode="scripted",
        description=(
            "speech-to-text: the real ElevenLabs Scribe adapter against the local Scribe fake, which is"
            " told the emulated caller's lines (it follows their timing in the audio; it does not"
            " recognise speech)",
            "language model: the real Cerebras adapter against the local Cerebras fake, answering with"
            " replies written for this demo conversation (local/demo_engines.py)",
            "text-to-speech: eSpeak NG (offline), so the recording is real speech",
            "real engines: set ELEVENLABS_API_KEY and CEREBRAS_API_KEY; offline engines:"
            " STT_PROVIDER=offline LLM_PROVIDER=offline",
        ),
        caller_lines=tuple(caller_lines),
    )


async def start_scripted_engines(
    fakes: contextlib.AsyncExitStack, caller_lines: Sequence[str]
) -> dict[str, str]:
    """Start the local ElevenLabs and Cerebras fakes (closed with ``fakes``); the env that selects them."""
    from local.fake_providers.cerebras import FakeCerebras
    from local.fake_providers.elevenlabs import FakeElevenLabs
    from local.fake_providers.recognition import ProviderTiming

    scribe = await fakes.enter_async_context(
        FakeElevenLabs(recognition=ProviderTiming(), session_script=tuple(caller_lines))
    )
    cerebras = await fakes.enter_async_context(FakeCerebras(reply=demo_reply))
    cerebras.config.structured_rule = demo_analysis
    return {
        "STT_PROVIDER": "elevenlabs",
        "ELEVENLABS_API_KEY": scribe.api_key,
        "ELEVENLABS_BASE_URL": scribe.base_url,
        "LLM_PROVIDER": "cerebras",
        "CEREBRAS_API_KEY": cerebras.api_key,
        "CEREBRAS_BASE_URL": cerebras.base_url,
        "TTS_PROVIDER": "offline",
    }
