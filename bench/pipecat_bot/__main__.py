"""`python -m bench.pipecat_bot` (from .venv-bench) serves the Pipecat bot on 127.0.0.1:$PORT."""

from bench.pipecat_bot.bot import main

main()
