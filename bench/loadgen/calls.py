"""N emulated Twilio calls at once, each a scripted caller on the emulator's own media session.

`TimedMediaSession` extends the emulator's `MediaSession` with one thing: the start and end of every
stretch of bot audio the phone played, so playback gaps and the moment audio stopped after a
barge-in can be read afterwards. Everything else (signed handshake, 20 ms pacing, playback at real
time, marks, `clear`) is the emulator's.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from local.twilio_emulator.caller import CallerScript, TimelineEvent, Utterance
from local.twilio_emulator.media import MediaSession, StreamOutcome
from local.twilio_emulator.playback import PlaybackStep
from local.twilio_emulator.recording import StereoRecording
from local.twilio_emulator.twiml import ConnectStream

__all__ = ["BENCH_LINES", "CallResult", "TimedMediaSession", "bench_script", "run_calls"]

FRAME_SECONDS = 0.02


# What every bench caller says, in order (the fake recogniser of each call transcribes the same lines).
BENCH_LINES = (
    "Hi, I would like to book a table for two tonight.",
    "Sorry, actually make that three people please.",
    "Great, thank you very much for your help.",
    "And could you tell me what time you close?",
)


def bench_script(*, turns: int = 3, barge_in_ms: int = 800) -> CallerScript:
    """Speech with pauses and one barge-in: a normal turn, a barge-in, then normal turns."""
    utterances = []
    for index in range(turns):
        barge = barge_in_ms if index == 1 else None
        utterances.append(
            Utterance(text=BENCH_LINES[index % len(BENCH_LINES)], pause_ms=700, barge_in_ms=barge)
        )
    return CallerScript(utterances=tuple(utterances), hang_up=True, max_wait_ms=8000)


@dataclass
class TimedMediaSession(MediaSession):
    """The emulator's media session, also noting every stretch of played bot audio (stream seconds)."""

    played: list[tuple[float, float]] = field(default_factory=list)

    def _apply(self, step: PlaybackStep) -> list[str]:
        for start, chunk in step.played:
            begin = start - self._t0
            end = begin + len(chunk) / 8000
            if self.played and abs(self.played[-1][1] - begin) < 1e-6:
                self.played[-1] = (self.played[-1][0], end)
            else:
                self.played.append((begin, end))
        return super()._apply(step)


@dataclass
class CallResult:
    """What one emulated call saw: its caller timeline, played audio and send times."""

    call_sid: str
    outcome: StreamOutcome
    timeline: list[TimelineEvent]
    played: list[tuple[float, float]]
    sent_at: list[float]
    errors: list[str]


class _NullRecording(StereoRecording):
    """Keeps memory flat under load: the figures need timings, not the audio itself."""

    def caller(self, at: float, ulaw: bytes) -> None:
        return None

    def bot(self, at: float, ulaw: bytes) -> None:
        return None


async def _one_call(
    *,
    url: str,
    parameters: Mapping[str, str],
    call_sid: str,
    auth_token: str,
    script: CallerScript,
    delay: float,
    max_seconds: float,
) -> CallResult:
    await asyncio.sleep(delay)
    session = TimedMediaSession(
        stream=ConnectStream(url=url, parameters=dict(parameters)),
        account_sid="AC" + "0" * 32,
        call_sid=call_sid,
        stream_sid="MZ" + uuid.uuid4().hex,
        auth_token=auth_token,
        script=script,
        recording=_NullRecording(),
        max_seconds=max_seconds,
    )
    outcome = await session.run(asyncio.Event())
    return CallResult(
        call_sid=call_sid,
        outcome=outcome,
        timeline=session.timeline,
        played=list(session.played),
        sent_at=list(session.sent_at),
        errors=[f"{e.code} {e.message}" for e in outcome.errors],
    )


async def run_calls(
    count: int,
    *,
    url: str,
    auth_token: str,
    parameters_for: Callable[[str], Mapping[str, str]],
    script: CallerScript,
    ramp_seconds: float = 2.0,
    max_seconds: float = 90.0,
    seed: int = 7,
) -> list[CallResult]:
    """Place `count` calls, their starts spread over `ramp_seconds` (a burst of handshakes is not a load
    any real fleet sees), and return when every one has ended."""
    rng = random.Random(seed)
    jobs = []
    for _ in range(count):
        call_sid = "CA" + uuid.uuid4().hex
        jobs.append(
            _one_call(
                url=url,
                parameters=parameters_for(call_sid),
                call_sid=call_sid,
                auth_token=auth_token,
                script=script,
                delay=rng.uniform(0, ramp_seconds) if count > 1 else 0.0,
                max_seconds=max_seconds,
            )
        )
    return list(await asyncio.gather(*jobs))
