"""What a call cost: the price table and ``cost_usd`` per item and in total.

Prices are configuration, not truth: providers change them and contracts differ, so every rate can
be overridden by an environment variable (``PRICE_*``, see the README). The defaults below were
looked up on 2026-11-30; where only a third-party page was available that is said next to the
number. Costs are estimates from our own counts, not invoices.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["PriceTable", "cost_of"]


@dataclass(frozen=True)
class PriceTable:
    # Twilio outbound US voice $0.013/min (Twilio support, "How Volume Pricing works") plus Media
    # Streams about $0.004/min (project reference notes, not confirmed on a Twilio page).
    twilio_per_minute: float = 0.017
    # ElevenLabs Scribe v2 Realtime $0.39 per audio hour (third-party price summary, June 2026).
    stt_per_hour: float = 0.39
    # Cerebras gpt-oss-120b per million tokens (not re-checked on cerebras.ai from here: override it).
    llm_input_per_million: float = 0.35
    llm_output_per_million: float = 0.75
    # ElevenLabs Flash/Turbo text to speech $0.05 per 1,000 characters (third-party, June 2026).
    tts_per_thousand_characters: float = 0.05

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PriceTable:
        """``PRICE_TWILIO_PER_MINUTE``, ``PRICE_STT_PER_HOUR``, ``PRICE_LLM_INPUT_PER_MILLION``,
        ``PRICE_LLM_OUTPUT_PER_MILLION``, ``PRICE_TTS_PER_THOUSAND_CHARACTERS``."""
        source = os.environ if env is None else env
        values: dict[str, float] = {}
        for f in fields(cls):
            raw = source.get(f"PRICE_{f.name.upper()}")
            if raw is None or not raw.strip():
                continue
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"PRICE_{f.name.upper()} must be a number, got {raw!r}") from None
            if value < 0:
                raise ValueError(f"PRICE_{f.name.upper()} must not be negative")
            values[f.name] = value
        return cls(**values)


def cost_of(usage: Mapping[str, Any], prices: PriceTable) -> dict[str, float]:
    """``cost_usd``: one entry per usage item and ``total``, rounded to 1/10,000 of a dollar.

    The post-call analysis's own model tokens (``analysis_*_tokens``, when it asked a model) are
    priced at the LLM's rates as their own ``analysis`` item.
    """
    items = {
        "twilio": float(usage.get("twilio_minutes", 0) or 0) * prices.twilio_per_minute,
        "stt": float(usage.get("stt_seconds", 0) or 0) / 3600 * prices.stt_per_hour,
        "llm": (
            float(usage.get("llm_input_tokens", 0) or 0) * prices.llm_input_per_million
            + float(usage.get("llm_output_tokens", 0) or 0) * prices.llm_output_per_million
        )
        / 1_000_000,
        "tts": float(usage.get("tts_characters", 0) or 0) / 1000 * prices.tts_per_thousand_characters,
    }
    if "analysis_input_tokens" in usage or "analysis_output_tokens" in usage:
        items["analysis"] = (
            float(usage.get("analysis_input_tokens", 0) or 0) * prices.llm_input_per_million
            + float(usage.get("analysis_output_tokens", 0) or 0) * prices.llm_output_per_million
        ) / 1_000_000
    cost = {name: round(value, 4) for name, value in items.items()}
    cost["total"] = round(sum(items.values()), 4)
    return cost
