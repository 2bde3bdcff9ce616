"""Provider choice from the environment, and `build_providers` following it."""

from __future__ import annotations

import pytest

from stream_server.providers import ProviderConfigError, ProviderSettings, build_providers
from stream_server.providers.llm_cerebras import CerebrasLanguageModel
from stream_server.providers.llm_offline import ScriptedLanguageModel
from stream_server.providers.stt_elevenlabs import ElevenLabsSpeechToText
from stream_server.providers.stt_offline import OfflineSpeechToText
from stream_server.providers.tts_elevenlabs import ElevenLabsTextToSpeech
from stream_server.providers.tts_offline import OfflineTextToSpeech


def test_no_keys_means_everything_offline() -> None:
    settings = ProviderSettings.from_env({})
    assert (settings.stt_provider, settings.llm_provider, settings.tts_provider) == ("offline",) * 3
    assert settings.elevenlabs_base_url == "https://api.elevenlabs.io"
    assert settings.cerebras_base_url == "https://api.cerebras.ai"
    assert settings.cerebras_model == "gpt-oss-120b"


def test_keys_select_vendors_and_urls_are_read() -> None:
    settings = ProviderSettings.from_env(
        {
            "ELEVENLABS_API_KEY": "secret-eleven",
            "CEREBRAS_API_KEY": "secret-cerebras",
            "ELEVENLABS_BASE_URL": "http://127.0.0.1:9",
            "CEREBRAS_BASE_URL": "http://127.0.0.1:8",
            "CEREBRAS_MODEL": "other-model",
            "TTS_PROVIDER": "offline",
        }
    )
    assert (settings.stt_provider, settings.llm_provider, settings.tts_provider) == (
        "elevenlabs",
        "cerebras",
        "offline",
    )
    assert settings.elevenlabs_base_url == "http://127.0.0.1:9"
    assert settings.cerebras_model == "other-model"
    assert "secret" not in repr(settings)


def test_vendor_without_key_or_unknown_name_fails_at_startup() -> None:
    with pytest.raises(ProviderConfigError, match="ELEVENLABS_API_KEY"):
        ProviderSettings.from_env({"STT_PROVIDER": "elevenlabs"})
    with pytest.raises(ProviderConfigError, match="CEREBRAS_API_KEY"):
        ProviderSettings.from_env({"LLM_PROVIDER": "cerebras"})
    with pytest.raises(ProviderConfigError, match="LLM_PROVIDER"):
        ProviderSettings.from_env({"LLM_PROVIDER": "gpt"})


async def test_build_providers_follows_the_settings() -> None:
    offline = build_providers(ProviderSettings())
    assert isinstance(offline.stt, OfflineSpeechToText)
    assert isinstance(offline.llm, ScriptedLanguageModel)
    assert isinstance(offline.tts, OfflineTextToSpeech)
    vendor = build_providers(
        ProviderSettings(
            stt_provider="elevenlabs",
            llm_provider="cerebras",
            tts_provider="elevenlabs",
            elevenlabs_api_key="k",
            cerebras_api_key="k",
            cerebras_base_url="http://127.0.0.1:1",
        )
    )
    assert isinstance(vendor.stt, ElevenLabsSpeechToText)
    assert isinstance(vendor.llm, CerebrasLanguageModel)
    assert isinstance(vendor.tts, ElevenLabsTextToSpeech)
    await vendor.aclose()
    await offline.aclose()
