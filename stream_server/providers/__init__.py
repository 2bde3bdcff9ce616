"""Speech and language providers behind one protocol each (see `base`).

`build_providers` is called once per process: vendor clients pool their connections, and the
offline engines load nothing until a call needs them. Vendor SDKs are imported only when their
provider is chosen, so an offline host starts fast and this package stays the only importer.
"""

from __future__ import annotations

from dataclasses import dataclass

from stream_server.providers.base import (
    ChatMessage,
    LanguageModel,
    ProviderError,
    SpeechToText,
    SttSession,
    TextToSpeech,
    Transcript,
)
from stream_server.providers.config import ProviderConfigError, ProviderSettings

__all__ = [
    "ChatMessage",
    "LanguageModel",
    "ProviderConfigError",
    "ProviderError",
    "ProviderSettings",
    "Providers",
    "SpeechToText",
    "SttSession",
    "TextToSpeech",
    "Transcript",
    "build_providers",
]


@dataclass(frozen=True, slots=True)
class Providers:
    """The three stages a call needs, shared by every call of the process."""

    stt: SpeechToText
    llm: LanguageModel
    tts: TextToSpeech

    async def check_at_startup(self) -> None:
        """Vendor checks worth doing once per process (the Cerebras model catalogue).

        Raises `ProviderConfigError` when the configuration cannot serve a call.
        """
        check = getattr(self.llm, "check_models", None)
        if check is not None:
            await check()

    async def aclose(self) -> None:
        """Release pooled connections at shutdown (adapters without a pool have nothing to do)."""
        for stage in (self.stt, self.llm, self.tts):
            close = getattr(stage, "aclose", None)
            if close is not None:
                await close()


def build_providers(settings: ProviderSettings) -> Providers:
    """Build the configured adapters; must run inside the event loop that will use them."""
    return Providers(
        stt=_speech_to_text(settings), llm=_language_model(settings), tts=_text_to_speech(settings)
    )


def _speech_to_text(settings: ProviderSettings) -> SpeechToText:
    if settings.stt_provider == "elevenlabs":
        from stream_server.providers.stt_elevenlabs import ElevenLabsSpeechToText

        return ElevenLabsSpeechToText(
            api_key=settings.elevenlabs_api_key or "",
            base_url=settings.elevenlabs_base_url,
            model_id=settings.elevenlabs_stt_model,
            open_timeout_seconds=settings.elevenlabs_timeout_seconds,
        )
    from stream_server.providers.stt_offline import OfflineSpeechToText

    return OfflineSpeechToText()


def _language_model(settings: ProviderSettings) -> LanguageModel:
    if settings.llm_provider == "cerebras":
        from stream_server.providers.llm_cerebras import CerebrasLanguageModel

        return CerebrasLanguageModel(
            api_key=settings.cerebras_api_key or "",
            base_url=settings.cerebras_base_url,
            reasoning_effort=settings.cerebras_reasoning_effort,
            max_completion_tokens=settings.cerebras_max_completion_tokens,
            timeout_seconds=settings.cerebras_timeout_seconds,
            max_retries=settings.cerebras_max_retries,
            default_model=settings.cerebras_model,
        )
    from stream_server.providers.llm_offline import ScriptedLanguageModel

    return ScriptedLanguageModel()


def _text_to_speech(settings: ProviderSettings) -> TextToSpeech:
    if settings.tts_provider == "elevenlabs":
        from stream_server.providers.tts_elevenlabs import ElevenLabsTextToSpeech

        return ElevenLabsTextToSpeech(
            api_key=settings.elevenlabs_api_key or "",
            base_url=settings.elevenlabs_base_url,
            model_id=settings.elevenlabs_tts_model,
            chunk_bytes=settings.tts_chunk_bytes,
            timeout_seconds=settings.elevenlabs_timeout_seconds,
        )
    from stream_server.providers.tts_offline import OfflineTextToSpeech

    return OfflineTextToSpeech()
