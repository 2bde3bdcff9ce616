"""A Pipecat 1.14 Twilio bot written the way Pipecat's own Twilio examples are, for side-by-side benchmarks.

Runs only in `.venv-bench` (see bench/setup_bench_env.sh); nothing in the product imports it.
"""
