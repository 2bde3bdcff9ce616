"""``python -m stream_server``: build everything once, serve calls, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from callcore.fleet import TaskSlots

from stream_server.host.active_calls import ActiveCallsPublisher
from stream_server.host.heap import freeze_startup_heap, space_out_young_collections
from stream_server.host.server import StreamServer
from stream_server.host.task_protection import TaskProtection
from stream_server.observability import MetricsSink, configure_logging, udp_writer
from stream_server.providers import build_providers
from stream_server.providers.base import TextToSpeech
from stream_server.providers.config import ProviderConfigError, ProviderSettings
from stream_server.services import CallServices
from stream_server.settings import StreamSettings
from stream_server.speech.pipeline import ApologyClip, Voice, render_clip

if TYPE_CHECKING:
    from callcore.repository import CallRepository

log = logging.getLogger("stream_server")


async def _apology(settings: StreamSettings, tts: TextToSpeech) -> ApologyClip:
    """Rendered once per process with the configured TTS, else with the offline engine."""
    from stream_server.providers.tts_offline import OfflineTextToSpeech

    fallback: TextToSpeech | None = None if tts.__class__ is OfflineTextToSpeech else OfflineTextToSpeech()
    voice = Voice(settings.apology_voice_id)
    return await render_clip(settings.apology_text, voice, tts, fallback)


def _metrics_sink(settings: StreamSettings) -> MetricsSink:
    endpoint = settings.emf_agent_endpoint
    return MetricsSink(
        settings.metrics_namespace,
        write=udp_writer(endpoint) if endpoint else None,
        log_group=settings.emf_log_group,
    )


def _cloudwatch_client(settings: StreamSettings) -> object | None:
    """CloudWatch for the ActiveCalls metric, on ECS only (locally nothing scales on it)."""
    if not settings.ecs_agent_uri:
        return None
    import boto3

    return boto3.client("cloudwatch")


async def _load_storage_client(repository: CallRepository) -> None:
    """Build the DynamoDB client now (botocore and its service model: ~100 modules, ~30,000 objects).

    Otherwise the first call's first read builds it in a worker thread while calls are live, and
    everything it loads lands after ``freeze_startup_heap``, in the heap every full collection walks.
    """
    await asyncio.to_thread(repository.warm_client)


async def main(settings: StreamSettings | None = None) -> None:
    settings = settings or StreamSettings.from_env()
    configure_logging(settings.log_level)
    from callcore.aws_session import LIVE_CALL_TIMEOUTS
    from callcore.repository import CallRepository

    providers = build_providers(ProviderSettings.from_env())
    try:
        await providers.check_at_startup()  # a retired CEREBRAS_MODEL stops here, not on call #1
    except ProviderConfigError as error:
        await providers.aclose()
        raise SystemExit(f"provider check failed: {error}") from None
    apology = await _apology(settings, providers.tts)
    repository = CallRepository.from_settings(settings.core, timeouts=LIVE_CALL_TIMEOUTS)
    services = CallServices(
        settings=settings,
        repository=repository,
        stt=providers.stt,
        llm=providers.llm,
        tts=providers.tts,
        apology=apology,
        metrics=_metrics_sink(settings),
    )
    await _load_storage_client(repository)
    # Fargate exposes the ECS agent to the task; without it (local runs) both stay idle.
    protection = TaskProtection(settings.ecs_agent_uri or None)
    server: StreamServer | None = None

    def live_calls() -> int:
        return len(server.sessions) if server is not None else 0

    task_id = f"{socket.gethostname()}:{os.getpid()}"

    def report_slots(live: int) -> None:
        # A draining task accepts nothing more: it reports no capacity, so no call is sent its way.
        capacity = 0 if server is None or server.draining else settings.max_calls
        services.repository.report_task_slots(
            TaskSlots(task_id=task_id, live=live, capacity=capacity, reported_at=time.time())
        )

    publisher = ActiveCallsPublisher(
        _cloudwatch_client(settings),
        namespace=settings.metrics_namespace,
        count=live_calls,
        report_slots=report_slots,
    )

    def active_changed(_: int) -> None:
        protection.notify_changed()
        publisher.notify_changed()

    server = StreamServer(services, on_active_change=active_changed)
    protection.start(live_calls)
    publisher.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    frozen = freeze_startup_heap()  # start-up's objects out of every later full collection
    thresholds = space_out_young_collections()  # in-flight stream objects freed before a collection
    log.info("start-up heap frozen", extra={"objects": frozen, "gc_thresholds": thresholds})
    try:
        await server.serve_until(stop)
    finally:
        await protection.stop()
        await publisher.stop()
        try:  # gone, not merely full: a stopped task's report must not read as a full fleet
            await asyncio.to_thread(services.repository.withdraw_task_slots, task_id)
        except Exception as exc:
            log.warning("fleet slots not withdrawn", extra={"error": repr(exc)})
        await providers.aclose()
    log.info("stream host stopped")


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop the host runs on (STREAM_EVENT_LOOP); None = asyncio's default."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


if __name__ == "__main__":
    stream_settings = StreamSettings.from_env()
    with asyncio.Runner(loop_factory=event_loop_factory(stream_settings.event_loop)) as runner:
        runner.run(main(stream_settings))
