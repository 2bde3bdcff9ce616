"""The side-by-side harness runs end to end against our stream host with a tiny N (no figures asserted
beyond "it measured something"), and its figure definitions hold on hand-made timelines.

Pipecat's virtualenv is not part of `make test`; the Pipecat side is exercised by `make bench`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import shutil

import pytest

from bench.loadgen.calls import CallResult, bench_script
from bench.loadgen.figures import (
    barge_in_clear_ms,
    barge_in_reactions_ms,
    call_figures,
    playback_gap_details,
    playback_gaps_ms,
    trailing_silence_ms,
    voice_to_voice_ms,
)
from bench.loadgen.stages import PHONE_STAGES, phone_waterfall, stretch_totals
from bench.loadgen.stats import percentile
from local.twilio_emulator.caller import TimelineEvent
from local.twilio_emulator.media import StreamOutcome
from stream_server.audio.codec import silence_ulaw


def _result(timeline: list[TimelineEvent], played: list[tuple[float, float]]) -> CallResult:
    return CallResult("CA1", StreamOutcome("caller_hung_up"), timeline, played, [0.0, 0.02, 0.041], [])


def test_voice_to_voice_adds_the_speech_tail_and_skips_the_greeting() -> None:
    timeline = [
        TimelineEvent(0.3, "greeting_start", value=300.0),
        TimelineEvent(5.0, "caller_stop", "hello"),
        TimelineEvent(6.0, "bot_reply_start", value=1000.0),
    ]
    assert voice_to_voice_ms(_result(timeline, []), lambda text: 120.0) == [1120.0]


def test_barge_in_reaction_runs_to_the_end_of_the_audio_then_playing() -> None:
    timeline = [TimelineEvent(7.2, "barge_in", "stop")]
    played = [(6.0, 7.0), (7.0, 7.5), (9.0, 10.0)]  # contiguous run 6.0-7.5, cut at 7.5
    assert barge_in_reactions_ms(_result(timeline, played)) == pytest.approx([300.0])


def test_barge_in_onset_to_the_clear_reaching_the_phone() -> None:
    timeline = [TimelineEvent(7.2, "barge_in", "stop"), TimelineEvent(7.45, "clear")]
    assert barge_in_clear_ms(_result(timeline, [])) == pytest.approx([250.0])
    assert barge_in_clear_ms(_result(timeline[:1], [])) == []  # no clear: no figure


def test_phone_waterfall_places_the_fakes_milestones_after_the_callers_last_voice() -> None:
    voice, heard = 10.0, 10.7
    milestones = [
        (9.5, "llm_request"),  # a reply to an earlier pause, discarded: not the one heard
        (10.2, "stt_commit"),
        (10.32, "stt_final"),
        (10.33, "llm_request"),
        (10.48, "llm_first_token"),
        (10.5, "tts_request"),
        (10.65, "tts_first_audio"),
        (12.0, "llm_request"),  # the next turn's
    ]
    rows = phone_waterfall([(voice, heard), (20.0, 21.0)], milestones)
    assert len(rows) == 1  # the second turn has no milestones of its own
    assert list(rows[0]) == list(PHONE_STAGES)
    assert rows[0]["STT commit"] == pytest.approx(200.0) and rows[0]["LLM request"] == pytest.approx(330.0)
    totals = stretch_totals(rows[0])
    assert totals == pytest.approx({"wait": 210.0, "provider": 420.0, "own": 70.0})
    assert sum(totals.values()) == pytest.approx(rows[0]["heard"])


def test_gaps_count_only_pauses_no_caller_turn_explains() -> None:
    timeline = [TimelineEvent(3.0, "caller_stop", "x")]
    played = [(0.0, 1.0), (1.25, 2.0), (4.0, 5.0), (5.05, 6.0)]
    assert playback_gaps_ms(_result(timeline, played)) == pytest.approx([250.0])


def test_gap_details_name_the_utterances_on_either_side_and_the_time_since_the_caller_stopped() -> None:
    timeline = [
        TimelineEvent(2.1, "mark", "u2.0.9"),  # the previous reply's last chunk, before the caller spoke
        TimelineEvent(3.0, "caller_stop", "x"),
        TimelineEvent(3.6, "mark", "u3.0.0"),  # echoed late, after the audio it follows
        TimelineEvent(3.62, "mark", "u3.0.1"),
        TimelineEvent(5.0, "mark", "u4.0.0"),
    ]
    played = [(1.0, 2.1), (3.3, 3.38), (3.6, 4.5), (4.9, 5.5)]
    inside, between = playback_gap_details(_result(timeline, played))
    assert inside.gap_ms == pytest.approx(220.0) and inside.audio_before_ms == pytest.approx(80.0)
    assert inside.after_caller_stop_ms == pytest.approx(380.0)
    assert (inside.mark_before, inside.mark_after, inside.inside_one_utterance) == ("u3.0.0", "u3.0.0", True)
    assert between.gap_ms == pytest.approx(400.0)
    assert (between.mark_before, between.mark_after) == ("u3.0.0", "u4.0.0")
    assert not between.inside_one_utterance
    assert "inside one utterance" in inside.describe() and "between utterances" in between.describe()
    assert any("caller_stop" in line for line in inside.nearby)


def test_trailing_silence_and_percentiles() -> None:
    speech = bytes([0x10]) * 800 + silence_ulaw(200)
    assert trailing_silence_ms(speech) == pytest.approx(200.0, abs=0.2)
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert math.isnan(percentile([], 95))
    figures = call_figures([_result([], [(0.0, 1.0)])], lambda text: 0.0)
    assert figures.completed == 1
    assert figures.send_lateness_p99_ms == pytest.approx(1.0, abs=1e-6)


def test_a_step_fails_when_its_p95_passes_one_and_a_fifth_of_one_calls() -> None:
    from bench.loadgen.harness import BatchResult

    def step(v2v: list[float], single: float | None) -> BatchResult:
        figures = call_figures([_result([], [(0.0, 1.0)])], lambda text: 0.0)
        figures = dataclasses.replace(figures, voice_to_voice_ms=v2v)
        return BatchResult("ours", 1, figures, 1.0, 0, 0, single_call_p95_ms=single)

    assert step([600.0] * 9 + [720.0], 600.0).problems == []  # 1.2x exactly: still the knee
    late = step([600.0] * 9 + [721.0], 600.0)
    assert late.p95_growth == pytest.approx(721.0 / 600.0)
    assert late.problems == ["voice-to-voice p95 1.20x one call's 600 ms"]
    assert step([600.0] * 9 + [900.0], None).problems == []  # no reference: not judged
    assert step([], 600.0).problems == []  # no turn measured: nothing to compare


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng renders the caller's speech")
@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset pins the host to one core")
async def test_harness_drives_our_stream_host_with_two_calls(tmp_path) -> None:
    from bench.loadgen.fakes import FakeLatencies
    from bench.loadgen.harness import measure_batch, running_fakes, running_storage
    from bench.loadgen.systems import OurStreamHost
    from local.storage import free_port

    latencies = FakeLatencies()
    milestones = tmp_path / "milestones.jsonl"
    with (
        running_fakes(latencies, milestones=milestones) as provider_env,
        running_storage() as (table, storage_env),
    ):
        host = OurStreamHost(
            name="ours",
            port=free_port(),
            core=1,
            log_path=tmp_path / "ours.log",
            provider_env={**provider_env, **storage_env},
            table=table,
        )
        host.start()
        try:
            batch = await measure_batch(host, 2, bench_script(turns=1))
            alone = await measure_batch(host, 1, bench_script(turns=1), milestones=milestones)
        finally:
            host.stop()
    log = (tmp_path / "ours.log").read_text(errors="replace")[-2000:]
    assert batch.figures.completed == 2, (batch.summary(), log)
    assert len(batch.figures.voice_to_voice_ms) == 2, (batch.summary(), log)
    # The LLM's first token and the TTS's first audio bound it from below; a minute bounds it from above.
    floor = latencies.llm_first_token_ms + latencies.tts_first_byte_ms
    assert all(floor < v < 60_000 for v in batch.figures.voice_to_voice_ms), batch.summary()
    assert batch.cpu_seconds > 0
    assert host.cold_start_s > 0
    # A call alone on the fakes gets its waterfall: each milestone no earlier than the one before.
    assert not batch.waterfall and alone.waterfall, (alone.summary(), log)
    row = alone.waterfall[0]
    assert row["STT commit"] <= row["STT final"], row
    assert all(row[a] <= row[b] for a, b in itertools.pairwise(PHONE_STAGES[2:])), row
