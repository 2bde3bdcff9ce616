"""Local servers that speak the ElevenLabs and Cerebras wire protocols, for tests and the demo.

They exist so the real adapters (and the vendor SDKs inside them) are exercised over real HTTP,
SSE and WebSocket exchanges with fixed, configurable latencies, with no account and no network.
`in_process` has the same providers as plain objects behind `stream_server.providers.base`, for
tests and benchmarks of the session and the pipeline that need no wire at all.
"""

from local.fake_providers.cerebras import FakeCerebras
from local.fake_providers.elevenlabs import FakeElevenLabs

__all__ = ["FakeCerebras", "FakeElevenLabs"]
