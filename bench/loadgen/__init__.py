"""The side-by-side load generator: emulated Twilio calls, the shared fakes, and the figures read from them.

Built on `local.twilio_emulator` (the same media session the demo and the tests use) and on
`local.fake_providers`; it adds only what a benchmark needs: many calls at once, per-chunk playback
times, socket backlog and process CPU/memory sampling.
"""
