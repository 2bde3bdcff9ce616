"""ElevenLabs text-to-speech over HTTP streaming, as `TextToSpeech`.

`output_format=ulaw_8000` is exactly what Twilio plays, so the bytes go to the caller untouched.
The SDK reads the response in 1024-byte pieces unless told otherwise, which holds back the first
128 ms of audio; `chunk_size=None` hands over each read as it arrives instead, so the first bytes
leave at once and audio that arrived together leaves in one piece (one media message and one mark
instead of one per 40 ms: the host's work per second of speech falls with the number of pieces). One
HTTP request per sentence (rather than the stream-input WebSocket) keeps barge-in trivial (stop
reading, the request is dropped) and has no idle socket to keep alive; docs/providers.md has the
reasoning and the measurements. The SDK does not retry streamed requests (verified in its source),
so the adapter retries one sentence once, after `retry_delay_s`, when it failed before any audio
with a busy answer (429: over the plan's concurrency or `system_busy`; 500/502/503/504) or no
connection; otherwise a failed sentence surfaces as `ProviderError` and the pipeline apologises,
including for an error body the SDK cannot parse (`ParsingError`, which is not an `ApiError`). The persona's
language goes out as its ISO 639-1 base (`en-US` -> `en`), the only form the API documents.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
from elevenlabs.client import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.core.parse_error import ParsingError

from stream_server.providers.base import ProviderError
from stream_server.providers.languages import base_language

__all__ = ["ElevenLabsTextToSpeech"]

_NAME = "elevenlabs-tts"
_log = logging.getLogger(__name__)
_BUSY = frozenset({429, 500, 502, 503, 504})  # worth one more try: nothing was wrong with the request


class ElevenLabsTextToSpeech:
    """Streams mu-law 8 kHz audio for one sentence at a time."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        model_id: str = "eleven_flash_v2_5",
        chunk_bytes: int | None = None,
        timeout_seconds: float = 10.0,
        retry_delay_s: float = 0.25,
    ) -> None:
        self._client = AsyncElevenLabs(api_key=api_key, base_url=base_url, timeout=timeout_seconds)
        self._model_id = model_id
        self._chunk_bytes = chunk_bytes
        self._retry_delay_s = retry_delay_s

    async def synthesize(self, text: str, *, voice_id: str, language: str) -> AsyncIterator[bytes]:
        """Yield audio chunks as they arrive; `ProviderError` on any HTTP or transport fault."""
        if not text.strip():
            return
        for attempt in (1, 2):
            spoke = False
            try:
                async for chunk in self._client.text_to_speech.stream(
                    voice_id,
                    text=text,
                    model_id=self._model_id,
                    output_format="ulaw_8000",
                    language_code=base_language(language) or None,
                    request_options={"chunk_size": self._chunk_bytes},
                ):
                    if chunk:
                        spoke = True
                        yield chunk
                return
            except ApiError as exc:
                if attempt == 1 and not spoke and exc.status_code in _BUSY:
                    _log.warning("TTS answered HTTP %s before any audio; trying once more", exc.status_code)
                    await asyncio.sleep(self._retry_delay_s)
                    continue
                raise ProviderError(_NAME, f"HTTP {exc.status_code}") from exc
            except ParsingError as exc:
                raise ProviderError(_NAME, f"unreadable response ({type(exc).__name__})") from exc
            except httpx.ConnectError as exc:
                if attempt == 1:
                    _log.warning("TTS connection failed (%s); trying once more", type(exc).__name__)
                    await asyncio.sleep(self._retry_delay_s)
                    continue
                raise ProviderError(_NAME, type(exc).__name__) from exc
            except httpx.HTTPError as exc:
                raise ProviderError(_NAME, type(exc).__name__) from exc
