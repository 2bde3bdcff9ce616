"""Smart Turn v3 on audio clips, inside `.venv-bench` (where pipecat-ai and onnxruntime live).

Usage: `.venv-bench/bin/python bench/smart_turn_worker.py CLIPS.npz OUT.json` (run by
`bench/bench_smart_turn.py`). Each array in CLIPS.npz is one clip of float32 samples in [-1, 1]; its
name ends in `@<rate>` (8000 or 16000). The model is the one inside the installed pipecat-ai wheel,
through Pipecat's own `LocalSmartTurnAnalyzerV3` (its resampling to 16 kHz, its Whisper features, its
8-second window), on one CPU thread as Pipecat runs it. Writes, per clip, the probability that the
turn is complete and the milliseconds one prediction took.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

    clips = np.load(argv[0])
    analyzers: dict[int, LocalSmartTurnAnalyzerV3] = {}
    results: dict[str, dict[str, float]] = {}
    for name in clips.files:
        rate = int(name.rsplit("@", 1)[1])
        analyzer = analyzers.get(rate)
        if analyzer is None:
            analyzer = analyzers[rate] = LocalSmartTurnAnalyzerV3(sample_rate=rate)
            analyzer.set_sample_rate(rate)
            analyzer._predict_endpoint(np.zeros(rate, dtype=np.float32))  # warm-up, not timed
        audio = clips[name].astype(np.float32)
        started = time.perf_counter()
        result = analyzer._predict_endpoint(audio)
        results[name] = {
            "probability": float(result["probability"]),
            "ms": (time.perf_counter() - started) * 1000.0,
        }
    Path(argv[1]).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
