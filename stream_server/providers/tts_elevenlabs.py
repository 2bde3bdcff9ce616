"""ElevenLabs text-to-speech over HTTP streaming, as `TextToSpeech`.

`output_format=ulaw_8000` is exactly what Twilio plays, so the bytes go to the caller untouched.
The SDK reads the response in 1024-byte pieces unless told otherwise, which holds back the first
128 ms of audio; `chunk_size` is set small so the first bytes leave as soon as they arrive. One
HTTP request per sentence (rather than the stream-input WebSocket) keeps barge-in trivial (stop
reading, the request is dropped) and has no idle socket to keep alive; docs/providers.md has the
reasoning and the measurements. The SDK does not retry streamed requests (verified in its source),
so a failed sentence surfaces as `ProviderError` and the pipeline apologises; that includes an
error body the SDK cannot parse (`ParsingError`, which is not an `ApiError`). The persona's
language goes out as its ISO 639-1 base (`en-US` -> `en`), the only form the API documents.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from elevenlabs.client import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.core.parse_error import ParsingError

from stream_server.providers.base import ProviderError
from stream_server.providers.languages import base_language

__all__ = ["ElevenLabsTextToSpeech"]

_NAME = "elevenlabs-tts"


class ElevenLabsTextToSpeech:
    """Streams mu-law 8 kHz audio for one sentence at a time."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        model_id: str = "eleven_flash_v2_5",
        chunk_bytes: int = 320,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._client = AsyncElevenLabs(api_key=api_key, base_url=base_url, timeout=timeout_seconds)
        self._model_id = model_id
        self._chunk_bytes = chunk_bytes

    async def synthesize(self, text: str, *, voice_id: str, language: str) -> AsyncIterator[bytes]:
        """Yield audio chunks as they arrive; `ProviderError` on any HTTP or transport fault."""
        if not text.strip():
            return
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
                    yield chunk
        except ApiError as exc:
            raise ProviderError(_NAME, f"HTTP {exc.status_code}") from exc
        except ParsingError as exc:
            raise ProviderError(_NAME, f"unreadable response ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(_NAME, type(exc).__name__) from exc
