"""Speech and language providers behind one protocol each (see `base`)."""

from stream_server.providers.base import (
    ChatMessage,
    LanguageModel,
    ProviderError,
    SpeechToText,
    SttSession,
    TextToSpeech,
    Transcript,
)

__all__ = [
    "ChatMessage",
    "LanguageModel",
    "ProviderError",
    "SpeechToText",
    "SttSession",
    "TextToSpeech",
    "Transcript",
]
