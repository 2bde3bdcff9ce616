"""The per-reply latency waterfall (aiphone.waterfall): where each stage starts and ends."""

from __future__ import annotations

import pytest

from aiphone.waterfall import Segment, total_ms, turn_waterfall

# Shared with the browser test, which runs the console's waterfall.js on the same figures.
CASES: dict[str, dict[str, float]] = {
    "reply after the final": {
        "end_of_turn": 400,
        "stt": 150,
        "llm_first_token": 200,
        "tts_first_byte": 250,
        "first_audio": 300,
    },
    # Started on the words so far (speculation) 21 ms before the end of turn was declared.
    "speculative reply": {
        "end_of_turn": 380,
        "stt": 0,
        "reply_start_after_speech": 359,
        "final_after_speech": 351,
        "llm_first_token": 165,
        "tts_first_byte": 182.5,
        "first_audio": 182.5,
    },
    "greeting": {"tts_first_byte": 61, "first_audio": 61},
}


def _spans(segments: list[Segment]) -> list[tuple[str, float, float]]:
    return [(s.stage, s.start_ms, s.end_ms) for s in segments]


# Where each stage is drawn, and where the waterfall ends, for each case.
EXPECTED: dict[str, tuple[list[tuple[str, float, float]], float]] = {
    # The reply starts when the final is in, and each stage follows the one it waits on.
    "reply after the final": (
        [
            ("end_of_turn", 0, 400),
            ("stt", 400, 550),
            ("llm_first_token", 550, 750),
            ("tts_first_byte", 750, 800),
            ("first_audio", 800, 850),
        ],
        850,
    ),
    # Its stages count from when it really started, not from the end of the caller's stages.
    "speculative reply": (
        [
            ("end_of_turn", 0, 380),
            ("stt", 380, 380),
            ("llm_first_token", 359, 524),
            ("tts_first_byte", 524, 541.5),
            ("first_audio", 541.5, 541.5),
        ],
        541.5,
    ),
    # No caller turn: counted from when the bot chose to speak.
    "greeting": ([("tts_first_byte", 0, 61), ("first_audio", 61, 61)], 61),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_stage_is_drawn_from_what_it_waited_on(case: str) -> None:
    spans, total = EXPECTED[case]
    segments = turn_waterfall(CASES[case])
    assert _spans(segments) == spans
    assert total_ms(segments) == pytest.approx(total)


def test_an_empty_waterfall_ends_at_zero() -> None:
    assert total_ms([]) == 0


def test_odd_figures_are_skipped_or_clamped_not_drawn_backwards() -> None:
    segments = turn_waterfall({"end_of_turn": -5, "stt": "soon", "llm_first_token": 10})  # type: ignore[dict-item]
    assert _spans(segments) == [("end_of_turn", 0, 0), ("llm_first_token", 0, 10)]
