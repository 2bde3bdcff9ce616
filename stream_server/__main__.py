"""``python -m stream_server``: build everything once, serve calls, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

from stream_server.observability import MetricsSink, configure_logging
from stream_server.pipeline import ApologyClip, Voice, render_clip
from stream_server.providers import build_providers
from stream_server.providers.base import TextToSpeech
from stream_server.providers.config import ProviderSettings
from stream_server.server import StreamServer
from stream_server.session import CallServices
from stream_server.settings import StreamSettings

log = logging.getLogger("stream_server")


async def _apology(settings: StreamSettings, tts: TextToSpeech) -> ApologyClip:
    """Rendered once per process with the configured TTS, else with the offline engine."""
    from stream_server.providers.tts_offline import OfflineTextToSpeech

    fallback: TextToSpeech | None = None if tts.__class__ is OfflineTextToSpeech else OfflineTextToSpeech()
    voice = Voice(os.environ.get("APOLOGY_VOICE_ID", "").strip() or "default")
    return await render_clip(settings.apology_text, voice, tts, fallback)


def _rest_hangup(settings: StreamSettings) -> Callable[[str], None]:
    from callcore.twilio_rest import twilio_client

    client = twilio_client(settings.core)

    def end_call(call_sid: str) -> None:
        client.calls(call_sid).update(status="completed")

    return end_call


async def main() -> None:
    settings = StreamSettings.from_env()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    from callcore.repository import CallRepository

    providers = build_providers(ProviderSettings.from_env())
    apology = await _apology(settings, providers.tts)
    end_call = _rest_hangup(settings)
    services = CallServices(
        settings=settings,
        repository=CallRepository.from_settings(settings.core),
        stt=providers.stt,
        llm=providers.llm,
        tts=providers.tts,
        apology=apology,
        metrics=MetricsSink(settings.metrics_namespace),
        end_call_via_rest=end_call,
    )
    server = StreamServer(services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.serve_until(stop)
    finally:
        await providers.aclose()
    log.info("stream host stopped")


if __name__ == "__main__":
    asyncio.run(main())
