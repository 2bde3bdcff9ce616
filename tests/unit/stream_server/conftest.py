"""A stream host on an ephemeral port with moto storage, fake providers and a fake Twilio REST."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from callcore.models import CallRecord, CallStatus, Persona
from callcore.repository import CallRepository
from callcore.settings import Settings
from callcore.tokens import issue_stream_token

from local.fake_providers.in_process import FakeLanguageModel, FakeSpeechToText, FakeTextToSpeech
from local.fake_twilio_rest import FakeTwilioRest
from local.twilio_emulator.stream_client import TwilioLike, open_stream
from stream_server.host.server import StreamServer
from stream_server.observability import MetricsSink
from stream_server.services import CallServices
from stream_server.settings import StreamSettings
from stream_server.speech.pipeline import ApologyClip, PipelineSettings
from stream_server.turn_taking.detector import TurnSettings

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
SECRET = "test-stream-secret"
APOLOGY = ApologyClip("Sorry, something went wrong.", bytes([0x11]) * 800)
PERSONA = Persona(
    persona_id="p1",
    name="Tester",
    voice_id="voice-1",
    prompt="You are a test persona.",
    greeting="Hello, this is the test line.",
    goodbye="Goodbye now.",
    end_of_turn_silence_ms=400,
    max_duration_seconds=600,
)


@dataclass
class Host:
    server: StreamServer
    services: CallServices
    repository: CallRepository
    stt: FakeSpeechToText
    llm: FakeLanguageModel
    tts: FakeTextToSpeech
    rest: FakeTwilioRest
    metrics: list[str] = field(default_factory=list)
    _calls: int = 0

    @property
    def rest_requests(self) -> list[tuple[str, dict[str, list[str]]]]:
        """(path, form) of every request the Twilio REST fake received, in order."""
        return [(r.path, r.form) for r in self.rest.requests]

    @property
    def url(self) -> str:
        return self.services.settings.core.stream_public_url

    def new_call(
        self, *, persona_id: str = "p1", variables: dict[str, str] | None = None
    ) -> tuple[str, str, dict[str, str]]:
        """A call record (with the call's ``variables``) and a fresh token.

        Returns (call_id, call_sid, custom parameters).
        """
        self._calls += 1
        call_id = f"call-{self._calls}"
        call_sid = "CA" + f"{self._calls:032d}"
        now = time.time()
        self.repository.table.put_item(
            Item=CallRecord(
                call_id=call_id,
                user_id="u1",
                to_number="+15005550006",
                from_number="+15005550001",
                persona_id=persona_id,
                status=CallStatus.IN_PROGRESS,
                created_at="2026-01-01T00:00:00+00:00",
                updated_at="2026-01-01T00:00:00+00:00",
                call_sid=call_sid,
                variables=variables or {},
            ).to_item()
        )
        token = issue_stream_token(SECRET, call_id=call_id, call_sid=call_sid, now=now)
        return call_id, call_sid, {"call_id": call_id, "token": token, "persona_id": persona_id}

    async def start_call(
        self, *, persona_id: str = "p1", variables: dict[str, str] | None = None
    ) -> tuple[str, str, TwilioLike]:
        """A new call (see ``new_call``) whose stream is connected and started, as Twilio does it.

        Returns (call_id, call_sid, the Twilio-like end of the stream).
        """
        call_id, call_sid, params = self.new_call(persona_id=persona_id, variables=variables)
        call = await self.connect()
        await call.start(call_sid, params)
        return call_id, call_sid, call

    async def idle(self, limit_s: float = 15.0) -> None:
        """Wait until every call has finished its shutdown (summary written, tasks reaped)."""
        async with asyncio.timeout(limit_s):
            while self.server.sessions:  # noqa: ASYNC110 - polling a plain set
                await asyncio.sleep(0.02)

    async def connect(self, **kw: Any) -> TwilioLike:
        return await open_stream(self.url, AUTH_TOKEN, **kw)

    def turns(self, call_id: str) -> list[dict[str, Any]]:
        items = self.repository.table.query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :t)",
            ExpressionAttributeValues={":pk": f"CALL#{call_id}", ":t": "TURN#"},
        )["Items"]
        return sorted(items, key=lambda i: int(i["index"]))


@pytest.fixture
def rest() -> Iterator[FakeTwilioRest]:
    fake = FakeTwilioRest().start()
    yield fake
    fake.stop()


@pytest.fixture
async def host(ddb_table: Any, rest: FakeTwilioRest, request: pytest.FixtureRequest) -> AsyncIterator[Host]:
    base_url = rest.base_url
    overrides: dict[str, Any] = getattr(request, "param", {}) or {}
    core = Settings(
        twilio_auth_token=AUTH_TOKEN,
        twilio_account_sid="AC" + "1" * 32,
        twilio_api_base_url=base_url,
        stream_token_secret=SECRET,
        stream_public_url="ws://127.0.0.1:0/media",
        port=0,
    )
    settings = StreamSettings(
        core=core,
        turn=TurnSettings(end_of_turn_silence_ms=400),
        # Generous provider deadlines: the fakes answer at once, but a CPU-starved test process can
        # pause for seconds, and a deadline firing would retry or apologise (no test here needs one to).
        pipeline=PipelineSettings(
            llm_first_token_timeout_s=15.0,
            llm_idle_timeout_s=15.0,
            tts_first_byte_timeout_s=15.0,
            tts_idle_timeout_s=15.0,
        ),
        drain_deadline_seconds=overrides.pop("drain_deadline_seconds", 110.0),
        max_calls=overrides.pop("max_calls", 100),
    )
    repository = CallRepository(ddb_table)
    repository.put_persona(PERSONA)
    stt = FakeSpeechToText(script=overrides.pop("script", ["What are your opening hours?", "Thanks."]))
    llm = overrides.pop("llm", None) or FakeLanguageModel(
        reply=lambda messages: (
            f"Reply number {sum(1 for m in messages if m.role == 'user')}. We open at nine."
        )
    )
    tts = overrides.pop("tts", None) or FakeTextToSpeech(bytes_per_char=20, chunk_bytes=400)
    metrics: list[str] = []
    services = CallServices(
        settings=settings,
        repository=repository,
        stt=stt,
        llm=llm,
        tts=tts,
        apology=APOLOGY,
        metrics=MetricsSink("Test", write=metrics.append),
    )
    server = StreamServer(services)
    await server.start()
    # The public URL must name the real port: that is the URL Twilio signs.
    public = f"ws://127.0.0.1:{server.port}/media"
    services.settings = replace(settings, core=replace(core, stream_public_url=public))
    server.settings = services.settings
    h = Host(server, services, repository, stt, llm, tts, rest, metrics)
    try:
        yield h
    finally:
        if server._server is not None:
            server._server.close()
            await server._server.wait_closed()
