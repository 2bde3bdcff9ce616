"""The stream host fixtures (moto storage, fake providers, fake Twilio REST) reused for behaviours."""

from tests.unit.stream_server.conftest import host, rest

__all__ = ["host", "rest"]
