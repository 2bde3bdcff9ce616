#!/usr/bin/env bash
# Creates .venv-bench: Pipecat and matplotlib for the side-by-side benchmark, apart from the product's
# .venv so their pins never meet. Idempotent: reinstalls only when requirements-bench.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
VENV=.venv-bench
REQ=bench/requirements-bench.txt
STAMP="$VENV/.stamp"
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$REQ" ]; then
  exit 0
fi
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r "$REQ"
# Silero's model must come inside the wheel: nothing may be fetched when a call starts.
"$VENV/bin/python" - <<'PY'
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("pipecat")
model = pathlib.Path(spec.origin).parent / "audio" / "vad" / "data" / "silero_vad.onnx"
if not model.is_file():
    sys.exit(f"Silero VAD model missing from the pipecat wheel: {model}")
if importlib.util.find_spec("torch") is not None:
    sys.exit("torch was pulled into .venv-bench; the benchmark must not depend on it")
PY
touch "$STAMP"
