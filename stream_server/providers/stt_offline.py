"""PocketSphinx 5 as `SpeechToText`: recognition with no account and no network.

The `pocketsphinx` wheel ships a 16 kHz US-English model, so mu-law 8 kHz is decoded to PCM16 and
upsampled. Audio is resampled in blocks of about 200 ms (not per 20 ms frame) so the filter has
context and does not click at every frame edge. Decoding is CPU work: each session owns one
`Decoder` and one worker thread, so the event loop never waits on it and calls never share a
decoder. Partial hypotheses are surfaced as audio arrives; `commit()` ends the utterance and
yields the final text. Accuracy on telephone-band synthetic speech is modest (measured in
docs/providers.md): this engine makes the demo a real conversation, not a production recogniser.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from stream_server.audio.codec import SAMPLE_RATE, resample, ulaw_to_pcm16
from stream_server.providers.base import ProviderError, SttSession, Transcript
from stream_server.providers.transcript_feed import TranscriptFeed

__all__ = ["OfflineSpeechToText", "Upsampler"]

_NAME = "pocketsphinx"
_MODEL_RATE = 16000
_BLOCK_BYTES = SAMPLE_RATE // 5  # 200 ms of mu-law
_LEAD_IN = np.zeros(_MODEL_RATE * 3 // 10, dtype=np.int16)  # 300 ms: settles the feature normaliser
# Starting cepstral mean for 8 kHz telephone audio upsampled to 16 kHz, measured by letting the
# decoder adapt over a dozen utterances (docs/providers.md). The model's default assumes full-band
# audio; with it a fresh decoder mishears its first seconds badly (word accuracy 0.17 vs 0.27).
_TELEPHONE_CMN = "53.7,29.3,-37.2,48.1,-24.7,-3.4,16.0,-35.9,7.1,-14.9,2.4,9.8,-21.8"
_log = logging.getLogger(__name__)


def _new_decoder() -> Any:
    from pocketsphinx import Decoder  # imported here: loading the model takes ~0.4 s

    return Decoder(samprate=_MODEL_RATE, cmninit=_TELEPHONE_CMN, loglevel="FATAL")


class _Utterances:
    """The decoder's state, touched only from the session's worker thread."""

    def __init__(self) -> None:
        self._decoder = _new_decoder()
        self._open = False

    @property
    def started(self) -> bool:
        return self._open

    def feed(self, pcm16k: bytes) -> str:
        if not self._open:
            self._decoder.start_utt()
            self._decoder.process_raw(_LEAD_IN.tobytes(), False, False)
            self._open = True
        self._decoder.process_raw(pcm16k, False, False)
        hyp = self._decoder.hyp()
        return str(hyp.hypstr) if hyp is not None else ""

    def finish(self) -> str:
        if not self._open:
            return ""
        self._decoder.end_utt()
        self._open = False
        hyp = self._decoder.hyp()
        return str(hyp.hypstr) if hyp is not None else ""


class _SphinxSession:
    def __init__(self, utterances: _Utterances, worker: ThreadPoolExecutor) -> None:
        self._utterances = utterances
        self._worker = worker
        self._pending = bytearray()
        self._upsampler = Upsampler()
        self._last_partial = ""
        self._feed = TranscriptFeed()
        self._failure: ProviderError | None = None
        # Serialises feed/commit so a final never overtakes the audio sent before it.
        self._order = asyncio.Lock()

    async def send_audio(self, ulaw: bytes) -> None:
        if self._failure is not None:
            raise self._failure
        self._pending.extend(ulaw)
        if len(self._pending) >= _BLOCK_BYTES:
            block = bytes(self._pending)
            self._pending.clear()
            async with self._order:
                partial = await self._run(self._utterances.feed, self._upsampler.push(ulaw_to_pcm16(block)))
            if partial and partial != self._last_partial:
                self._last_partial = partial
                self._feed.put(Transcript(partial, final=False))

    async def commit(self) -> None:
        if self._failure is not None:
            raise self._failure
        block = bytes(self._pending)
        self._pending.clear()
        async with self._order:
            tail = self._upsampler.push(ulaw_to_pcm16(block)) + self._upsampler.flush()
            if block or self._utterances.started:
                await self._run(self._utterances.feed, tail)
            text = await self._run(self._utterances.finish)
        self._last_partial = ""
        self._feed.put(Transcript(text, final=True))

    async def _run(self, fn: Any, *args: Any) -> str:
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)
        except RuntimeError as exc:
            self._failure = ProviderError(_NAME, f"decoder failed: {exc}")
            self._feed.fail(self._failure)
            raise self._failure from exc
        return str(result)

    async def transcripts(self) -> AsyncIterator[Transcript]:
        async for transcript in self._feed:
            yield transcript

    def close(self) -> None:
        self._feed.close()


class Upsampler:
    """8 kHz to 16 kHz across block boundaries, as if the whole call were resampled at once.

    Resampling each block alone would pad its edges with zeros and click every 200 ms, which
    costs the recogniser words. Each block is resampled with already-emitted samples on its left
    and holds back a few samples until the next block supplies their right-hand context.
    """

    _LEFT = 64
    _RIGHT = 32

    def __init__(self) -> None:
        self._left = np.zeros(self._LEFT, dtype=np.int16)
        self._held = np.zeros(0, dtype=np.int16)

    def push(self, pcm8k: npt.NDArray[np.int16]) -> bytes:
        fresh = np.concatenate([self._held, pcm8k])
        if fresh.size <= self._RIGHT:
            self._held = fresh
            return b""
        signal = np.concatenate([self._left, fresh])
        out = resample(signal, SAMPLE_RATE, _MODEL_RATE)
        ready = signal.size - self._RIGHT
        self._left = signal[ready - self._LEFT : ready]
        self._held = signal[ready:]
        return out[2 * self._LEFT : 2 * ready].tobytes()

    def flush(self) -> bytes:
        signal = np.concatenate([self._left, self._held])
        out = resample(signal, SAMPLE_RATE, _MODEL_RATE)
        self._left = np.zeros(self._LEFT, dtype=np.int16)
        self._held = np.zeros(0, dtype=np.int16)
        return out[2 * self._LEFT :].tobytes()


class OfflineSpeechToText:
    """One PocketSphinx decoder per session, each on its own worker thread."""

    @asynccontextmanager
    async def session(self, *, language: str) -> AsyncIterator[SttSession]:
        if not language.lower().startswith("en"):
            # The bundled model is English; the call goes on, but the logs say why it mishears.
            _log.warning("offline recogniser has only an English model; persona language is %s", language)
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pocketsphinx")
        try:
            utterances = await asyncio.get_running_loop().run_in_executor(worker, _Utterances)
        except RuntimeError as exc:
            worker.shutdown(wait=False)
            raise ProviderError(_NAME, f"cannot load the model: {exc}") from exc
        session = _SphinxSession(utterances, worker)
        try:
            yield session
        finally:
            session.close()
            worker.shutdown(wait=False, cancel_futures=True)
