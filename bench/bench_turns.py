"""Turn-taking figures from the replay corpus (tests/corpus), on an invented clock.

The recogniser and provider latencies are the bench fakes' shared ones
(`local/fake_providers/recognition.py`): partials every 200 ms trailing the audio by 300-500 ms,
the final 120 ms after a commit, LLM first token 150 ms, TTS first audio 150 ms.

* end-of-turn delay (caller's last word -> reply decided), p50/p95, with and without the
  semantic signal; voice-to-voice (last word -> first reply audio at the phone), with and without
  speculation (target p50 <= 700 ms, p95 <= 900 ms);
* premature replies: the bot decided to answer in the middle of a caller's sentence (the corpus
  plus pauses of 300-700 ms after incomplete phrases; target 0);
* barge-in reaction: clear - (speech onset + BARGE_IN_MS), p95 (target <= 250 ms);
* false-interruption rate over the corpus (clears the caller did not mean; target 0);
* echo detection CPU per checked frame.

Usage: python bench/bench_turns.py [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "callcore")]

from local.fake_providers.recognition import ProviderTiming  # noqa: E402
from stream_server.turn_taking.detector import TurnSettings  # noqa: E402
from tests.corpus.calls import CASES, LONG_REPLY, Case  # noqa: E402
from tests.corpus.simulator import CallRun, Latencies, Say, WaitBot, run_call  # noqa: E402

RECOGNITION = ProviderTiming()
LATENCIES = Latencies.published(RECOGNITION)

# Ordinary complete sentences, and pauses up to 700 ms after incomplete phrases (bench-only cases).
_AFTER_GREETING = [WaitBot(audible_ms=20), WaitBot(done=True, then_ms=400)]
_TAIL = [WaitBot(audible_ms=20), WaitBot(done=True, then_ms=300)]
EXTRA_CASES = [
    Case("sentence_book", [*_AFTER_GREETING, Say(("I would like to book a table for two.",)), *_TAIL]),
    Case("sentence_parking", [*_AFTER_GREETING, Say(("Do you have parking nearby?",)), *_TAIL]),
    *(
        Case(f"pause_{ms}_{n}", [*_AFTER_GREETING, Say((first, ms, rest)), *_TAIL])
        for ms in (300, 500, 700)
        for n, (first, rest) in enumerate(
            [
                ("I would like to book a table for", "two people tonight."),
                ("Can we come at", "eight o'clock?"),
                ("My name is John and", "I have a booking."),
            ]
        )
    ),
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def turn_figures(run: CallRun) -> tuple[list[float], list[float]]:
    """(end-of-turn delays, voice-to-voice) in ms for every answered caller turn."""
    eot: list[float] = []
    v2v: list[float] = []
    say = [s for s in run.segments if s.kind == "say"]
    for turn in sorted({s.turn for s in say}):
        last = max(s.end for s in say if s.turn == turn)
        decided = [r for r in run.replies_at if r > last]
        audio = [a for a in run.reply_audio_at if a > last]
        if decided:
            eot.append((decided[0] - last) * 1000)
        if audio:
            v2v.append((audio[0] - last) * 1000)
    return eot, v2v


def premature_replies(run: CallRun) -> int:
    """Replies decided, or reply audio played, between two parts of one caller sentence."""
    say = [s for s in run.segments if s.kind == "say"]
    count = 0
    for s0, s1 in itertools.pairwise(say):
        if s0.turn == s1.turn:
            count += any(s0.end < r <= s1.start for r in [*run.replies_at, *run.reply_audio_at])
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one seed instead of three")
    args = parser.parse_args()
    seeds = [7] if args.quick else [7, 11, 13]
    turn_cases = [c for c in CASES if c.interrupts == 0 and c.name not in ("silence_only",)] + EXTRA_CASES
    variants = {
        "plain VAD (700 ms), no speculation": TurnSettings(
            semantic_end_of_turn=False, speculative_replies=False
        ),
        "semantic end of turn, no speculation": TurnSettings(speculative_replies=False),
        "semantic end of turn + speculation": TurnSettings(),
    }
    print(f"turn cases: {len(turn_cases)} x {len(seeds)} seeds")
    for label, settings in variants.items():
        eot: list[float] = []
        v2v: list[float] = []
        premature = 0
        for case in turn_cases:
            for seed in seeds:
                reply = (lambda _n: list(LONG_REPLY)) if case.long_reply else None
                run = run_call(
                    list(case.script),
                    turn=settings,
                    echo=case.echo,
                    reply=reply,
                    seed=seed,
                    latencies=LATENCIES,
                    recognition=RECOGNITION,
                )
                e, v = turn_figures(run)
                eot += e
                v2v += v
                premature += premature_replies(run)
        print(
            f"{label:40s} end-of-turn p50 {pct(eot, 0.5):6.0f} ms p95 {pct(eot, 0.95):6.0f} ms | "
            f"voice-to-voice p50 {pct(v2v, 0.5):6.0f} ms p95 {pct(v2v, 0.95):6.0f} ms | "
            f"premature replies {premature}"
        )
    barge = TurnSettings().barge_in_ms
    reactions: list[float] = []
    unwanted = 0
    runs = 0
    echo_checks = 0
    for case in CASES:
        for seed in seeds:
            reply = (lambda _n: list(LONG_REPLY)) if case.long_reply else None
            run = run_call(
                list(case.script),
                echo=case.echo,
                reply=reply,
                seed=seed,
                latencies=LATENCIES,
                recognition=RECOGNITION,
            )
            if case.echo is not None and run.state.floor.echo is not None:
                echo_checks += run.state.floor.echo.checks
            runs += 1
            unwanted += max(0, len(run.clears) - case.interrupts)
            if case.interrupts and run.clears:
                onset = [s for s in run.segments if s.kind in ("say", "mumble")][-1].start
                reactions.append((run.clears[0] - onset) * 1000 - barge)
    print(
        f"barge-in reaction after onset+{barge} ms: p50 {pct(reactions, 0.5):.0f} ms "
        f"p95 {pct(reactions, 0.95):.0f} ms (n={len(reactions)})"
    )
    print(f"false interruptions: {unwanted} over {runs} corpus calls")
    if echo_checks:
        print(f"echo: {echo_checks} correlation checks in echo calls")


if __name__ == "__main__":
    main()
