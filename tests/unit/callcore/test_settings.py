from __future__ import annotations

import pytest
from callcore.settings import Settings, SettingsError, validate_stream_url


def test_defaults_make_the_local_stack_work() -> None:
    s = Settings.from_env({})
    assert s.table_name == "ai-phone-calls"
    assert s.dynamodb_endpoint is None
    assert s.twilio_account_sid.startswith("AC") and len(s.twilio_account_sid) == 34
    assert s.twilio_api_base_url == "https://api.twilio.com"
    assert s.public_api_url == "http://127.0.0.1:3000"
    assert s.stream_public_url == "ws://127.0.0.1:8080/media"
    assert s.allowed_country_codes == ("1",)
    assert (s.stt_provider, s.llm_provider, s.tts_provider) == ("offline", "offline", "offline")


def test_env_values_are_read_and_normalised() -> None:
    s = Settings.from_env(
        {
            "TABLE_NAME": "t",
            "DYNAMODB_ENDPOINT": "http://127.0.0.1:5000",
            "TWILIO_API_BASE_URL": "http://127.0.0.1:9000/",
            "PUBLIC_API_URL": "https://api.example.com/v1/",
            "STREAM_PUBLIC_URL": "wss://stream.example.com/media",
            "ALLOWED_COUNTRY_CODES": "1, +44,353",
            "MAX_CONCURRENT_CALLS_PER_USER": "7",
            "ELEVENLABS_API_KEY": "k",
        }
    )
    assert s.table_name == "t"
    assert s.dynamodb_endpoint == "http://127.0.0.1:5000"
    assert s.twilio_api_base_url == "http://127.0.0.1:9000"
    assert s.public_api_url == "https://api.example.com/v1"
    assert s.allowed_country_codes == ("1", "44", "353")
    assert s.max_concurrent_calls_per_user == 7
    assert s.stt_provider == "elevenlabs" and s.tts_provider == "elevenlabs" and s.llm_provider == "offline"


def test_empty_public_api_url_means_derive_from_request() -> None:
    assert Settings.from_env({"PUBLIC_API_URL": ""}).public_api_url is None


@pytest.mark.parametrize(
    "env",
    [
        {"MAX_CONCURRENT_CALLS_PER_USER": "many"},
        {"MAX_CONCURRENT_CALLS_PER_USER": "0"},
        {"ALLOWED_COUNTRY_CODES": "1,abc"},
        {"STT_PROVIDER": "whisper"},
        {"STREAM_PUBLIC_URL": "ws://stream.example.com/media"},
    ],
)
def test_bad_values_fail_loudly(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


@pytest.mark.parametrize(
    "url",
    ["wss://stream.example.com/media", "ws://127.0.0.1:8080/media", "ws://localhost/m", "ws://[::1]:80/m"],
)
def test_stream_urls_allowed(url: str) -> None:
    assert validate_stream_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "ws://10.0.0.5:8080/media",
        "https://stream.example.com/media",
        "wss://stream.example.com/media?call=1",
        "wss://stream.example.com/media?",
        "wss:///media",
    ],
)
def test_stream_urls_refused(url: str) -> None:
    with pytest.raises(SettingsError):
        validate_stream_url(url)


def test_repr_hides_every_secret() -> None:
    secrets = {
        "TWILIO_AUTH_TOKEN": "tok-" + "a" * 40,
        "STREAM_TOKEN_SECRET": "key-" + "b" * 40,
        "LOCAL_API_KEY": "api-" + "c" * 40,
        "ELEVENLABS_API_KEY": "el-" + "d" * 40,
        "CEREBRAS_API_KEY": "cb-" + "e" * 40,
        "WEBHOOK_SIGNING_SECRET": "wh-" + "f" * 40,
        "TWILIO_WEBHOOK_SHARED_KEYS": "HKrule=" + "g" * 40,
    }
    shown = repr(Settings.from_env(secrets))
    for value in secrets.values():
        assert value.split("=")[-1] not in shown
    assert "twilio_auth_token='***'" in shown and "table_name='ai-phone-calls'" in shown
