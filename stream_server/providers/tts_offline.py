"""eSpeak NG as `TextToSpeech`: real speech with no account and no network.

eSpeak writes a 22 050 Hz WAV; it is low-passed and resampled to 8 kHz and encoded as mu-law,
the format Twilio plays. The synthesiser runs as a child process (`create_subprocess_exec`, so the
event loop never blocks) and the text goes through its standard input, never through a shell or
the argument list, so caller-influenced text cannot become an option or a command.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from stream_server.audio.codec import SAMPLE_RATE, pcm16_to_ulaw, read_wav, resample
from stream_server.providers.base import ProviderError

__all__ = ["ESPEAK_VOICES", "OfflineTextToSpeech", "espeak_voice"]

_NAME = "espeak-ng"
ESPEAK_VOICES = {"en": "en-us", "es": "es", "fr": "fr-fr", "de": "de", "it": "it", "pt": "pt-br", "nl": "nl"}
_VOICE_NAME = re.compile(r"^[A-Za-z0-9_+-]{1,40}$")


def espeak_voice(voice_id: str, language: str) -> str:
    """An `espeak:<voice>` voice id picks the voice; anything else (a vendor id) follows the language."""
    if voice_id.startswith("espeak:"):
        candidate = voice_id.removeprefix("espeak:")
        if _VOICE_NAME.match(candidate):
            return candidate
    return ESPEAK_VOICES.get(language.split("-")[0].lower(), "en-us")


class OfflineTextToSpeech:
    """Renders one sentence with eSpeak NG and yields it as mu-law 8 kHz chunks."""

    def __init__(
        self,
        *,
        executable: str = "espeak-ng",
        words_per_minute: int = 160,
        chunk_ms: int = 100,
        timeout_seconds: float = 15.0,
    ) -> None:
        self._executable = executable
        self._rate = words_per_minute
        self._chunk_bytes = SAMPLE_RATE * chunk_ms // 1000
        self._timeout = timeout_seconds

    async def synthesize(self, text: str, *, voice_id: str, language: str) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        ulaw = await self.render(text, voice=espeak_voice(voice_id, language))
        for offset in range(0, len(ulaw), self._chunk_bytes):
            yield ulaw[offset : offset + self._chunk_bytes]

    async def render(self, text: str, *, voice: str) -> bytes:
        """The whole sentence as mu-law 8 kHz (eSpeak renders a sentence in milliseconds)."""
        try:
            process = await asyncio.create_subprocess_exec(
                self._executable,
                "--stdout",
                "-v",
                voice,
                "-s",
                str(self._rate),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise ProviderError(_NAME, f"cannot start {self._executable}: {exc.strerror}") from exc
        try:
            wav, errors = await asyncio.wait_for(
                process.communicate(" ".join(text.split()).encode("utf-8")), self._timeout
            )
        except TimeoutError as exc:
            raise ProviderError(_NAME, "synthesis timed out") from exc
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if process.returncode != 0 or not wav:
            detail = errors.decode("utf-8", "replace").strip()[:200]
            raise ProviderError(_NAME, f"exit status {process.returncode}: {detail}")
        try:
            pcm, rate = read_wav(wav)
        except (ValueError, EOFError) as exc:
            raise ProviderError(_NAME, f"unreadable WAV output: {exc}") from exc
        return pcm16_to_ulaw(resample(pcm, rate, SAMPLE_RATE))
