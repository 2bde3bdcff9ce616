"""A reply's latency as a waterfall: which stage ran when, in ms after the caller stopped speaking.

Pure. The stream host stores per-turn figures on each assistant turn (`latency_ms`): `end_of_turn`
(the silence waited before the turn was declared over) and `stt` (from that decision to the final
transcript), measured from the caller's last speech; `llm_first_token`, `tts_first_byte` and
`first_audio`, measured from the start of the reply. The reply starts when the final transcript is
in, so its figures are shifted by `end_of_turn + stt`. The web console draws the same segments
(`functions/console/static/waterfall.js` follows this module).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["STAGES", "Segment", "turn_waterfall"]

# (key in latency_ms, label, measured from): the order segments are drawn in.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("end_of_turn", "end-of-turn wait", "caller"),
    ("stt", "speech-to-text final", "caller"),
    ("llm_first_token", "LLM first token", "reply"),
    ("tts_first_byte", "TTS first audio", "reply"),
    ("first_audio", "first audio sent", "reply"),
)


@dataclass(frozen=True)
class Segment:
    stage: str
    label: str
    start_ms: float
    end_ms: float

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


def turn_waterfall(latency_ms: Mapping[str, float]) -> list[Segment]:
    """The segments of one reply, each starting where the stage it waits on ended.

    Caller-side stages chain from 0; reply-side stages chain from the reply's start
    (``end_of_turn + stt``), each from the previous reply stage's end. Missing stages are skipped.
    """
    segments: list[Segment] = []
    caller_end = 0.0
    for key, label, origin in STAGES:
        if origin == "caller" and key in latency_ms:
            end = caller_end + max(0.0, float(latency_ms[key]))
            segments.append(Segment(key, label, caller_end, end))
            caller_end = end
    reply_start = caller_end
    previous = reply_start
    for key, label, origin in STAGES:
        if origin == "reply" and key in latency_ms:
            end = max(previous, reply_start + max(0.0, float(latency_ms[key])))
            segments.append(Segment(key, label, previous, end))
            previous = end
    return segments
