"""Smart Turn v3 (Pipecat's audio end-of-turn model) against our text rules, on the replay corpus.

Every caller line of the replay corpus (`tests/corpus/calls.py`) and of `bench/bench_turns.py`'s extra
cases is cut at each of its pauses: the audio up to a pause is a turn that is not over ("I would like
to book a table for"), the audio up to the line's end is one that is. Each cut gets 200 ms of silence
after it (our commit point, and Pipecat's VAD stop) and is judged two ways:

* Smart Turn v3 from the installed pipecat-ai wheel (`bench/smart_turn_worker.py`, run in
  `.venv-bench`): on the telephone audio (eSpeak NG, 8 kHz mu-law decoded, upsampled to 16 kHz by
  Pipecat's own resampler) and, as a control, on the same speech rendered at 16 kHz;
* our rules (`stream_server.turn_taking.end_of_turn.judge_completeness`) on the words said up to
  the cut, with the recogniser's punctuation and without it.

Prints each cut's verdicts, the accuracy of each judge, and the milliseconds per Smart Turn
prediction (resampling and features included) on this machine. The corpus voice is synthetic:
the figures say what the model does with it, not with callers.

Usage: `.venv/bin/python bench/bench_smart_turn.py` (needs `.venv-bench`: `bash bench/setup_bench_env.sh`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "callcore")]

from bench.bench_turns import EXTRA_CASES, pct  # noqa: E402
from bench.loadgen.systems import BENCH_PYTHON  # noqa: E402
from stream_server.audio.codec import read_wav, resample, ulaw_to_pcm16  # noqa: E402
from stream_server.turn_taking.end_of_turn import Completeness, judge_completeness  # noqa: E402
from tests.corpus.calls import CASES  # noqa: E402
from tests.corpus.simulator import Say, trimmed_speech  # noqa: E402

TAIL_MS = 200  # silence after the cut: our commit, Pipecat's Silero stop
_QUIET = 0.004  # |sample| below this (float) is eSpeak's padding


@dataclass(frozen=True)
class Cut:
    """The caller's audio up to one pause (or the end) of a line, and whether the turn was over."""

    case: str
    parts: tuple[str | int, ...]  # the line's speech and pauses up to the cut
    complete: bool

    @property
    def words(self) -> str:
        return " ".join(p for p in self.parts if isinstance(p, str))


def cuts() -> list[Cut]:
    found: dict[tuple[str | int, ...], Cut] = {}
    for case in [*CASES, *EXTRA_CASES]:
        for step in case.script:
            if not isinstance(step, Say):
                continue
            texts = [i for i, p in enumerate(step.parts) if isinstance(p, str)]
            for i in texts:
                parts = step.parts[: i + 1]
                found.setdefault(parts, Cut(case.name, parts, complete=i == texts[-1]))
    return list(found.values())


def _wideband(text: str) -> np.ndarray:
    """eSpeak NG at 16 kHz, without the telephone's mu-law and band limit, trimmed like the corpus."""
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", "en", "-s", "175", text], check=True, capture_output=True
    ).stdout
    pcm, rate = read_wav(wav)
    audio = resample(pcm, rate, 16000).astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(audio) > _QUIET * 8)
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def clip(cut: Cut, rate: int) -> np.ndarray:
    pieces: list[np.ndarray] = []
    for part in cut.parts:
        if isinstance(part, int):
            pieces.append(np.zeros(part * rate // 1000, dtype=np.float32))
        elif rate == 8000:
            pieces.append(ulaw_to_pcm16(trimmed_speech(part)).astype(np.float32) / 32768.0)
        else:
            pieces.append(_wideband(part))
    pieces.append(np.zeros(TAIL_MS * rate // 1000, dtype=np.float32))
    return np.concatenate(pieces)


def rules_say_complete(words: str) -> bool | None:
    """True: the turn ends at the short gap; False: keep listening; None: the persona's silence."""
    verdict = judge_completeness(words)
    if verdict in (Completeness.COMPLETE, Completeness.LIKELY):
        return True
    return False if verdict is Completeness.INCOMPLETE else None


def main() -> int:
    if not BENCH_PYTHON.exists():
        print("needs .venv-bench (pipecat-ai, onnxruntime): bash bench/setup_bench_env.sh", file=sys.stderr)
        return 2
    if shutil.which("espeak-ng") is None:
        print("needs espeak-ng", file=sys.stderr)
        return 2
    all_cuts = cuts()
    with tempfile.TemporaryDirectory() as tmp:
        clips = {f"{n}@{rate}": clip(c, rate) for n, c in enumerate(all_cuts) for rate in (8000, 16000)}
        np.savez(Path(tmp) / "clips.npz", **clips)  # type: ignore[arg-type]
        subprocess.run(
            [
                str(BENCH_PYTHON),
                str(ROOT / "bench" / "smart_turn_worker.py"),
                f"{tmp}/clips.npz",
                f"{tmp}/out.json",
            ],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        results = json.loads((Path(tmp) / "out.json").read_text())
    judges: dict[str, list[bool | None]] = {
        "Smart Turn, 8 kHz phone audio": [],
        "Smart Turn, 16 kHz control": [],
        "our rules, punctuated words": [],
        "our rules, words without punctuation": [],
    }
    print(
        f"{'cut (words up to the pause)':58} {'over?':>6} {'ST 8k':>6} {'ST 16k':>6} "
        f"{'rules':>6} {'no punct':>8}"
    )
    for n, c in enumerate(all_cuts):
        p8, p16 = results[f"{n}@8000"]["probability"], results[f"{n}@16000"]["probability"]
        bare = re.sub(r"[^\w' ]", "", c.words)
        verdicts = [p8 > 0.5, p16 > 0.5, rules_say_complete(c.words), rules_say_complete(bare)]
        for verdicts_of, verdict in zip(judges.values(), verdicts, strict=True):
            verdicts_of.append(verdict)

        def show(v: bool | None) -> str:
            return "-" if v is None else ("end" if v else "wait")

        print(
            f"{c.words[:58]:58} {'yes' if c.complete else 'no':>6} {p8:6.2f} {p16:6.2f} "
            f"{show(verdicts[2]):>6} {show(verdicts[3]):>8}"
        )
    truth = [c.complete for c in all_cuts]
    print(
        f"\n{len(all_cuts)} cuts: {sum(truth)} at a line's end, {len(truth) - sum(truth)} at a mid-line pause"
    )
    print(f"{'judge':40} {'right':>6} {'ends a turn early':>18} {'waits at an end':>16} {'undecided':>10}")
    for label, verdicts in judges.items():
        right = sum(v is t for v, t in zip(verdicts, truth, strict=True))
        early = sum(v is True and not t for v, t in zip(verdicts, truth, strict=True))
        late = sum(v is False and t for v, t in zip(verdicts, truth, strict=True))
        undecided = sum(v is None for v in verdicts)
        print(f"{label:40} {right:>6} {early:>18} {late:>16} {undecided:>10}")
    for rate in (8000, 16000):
        ms = [r["ms"] for name, r in results.items() if name.endswith(f"@{rate}")]
        print(
            f"Smart Turn ms per prediction, {rate} Hz input: mean {np.mean(ms):.1f}, "
            f"p50 {pct(ms, 0.5):.1f}, p95 {pct(ms, 0.95):.1f} (n={len(ms)}, one thread)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
