from __future__ import annotations

from urllib.parse import urlencode

import pytest
from callcore.signatures import (
    api_base_url,
    is_valid_stream_handshake,
    is_valid_twilio_request,
    parse_form,
    signed_request_url,
)
from twilio.request_validator import RequestValidator

TOKEN = "auth-token"
URL = "https://abc123.execute-api.us-east-1.amazonaws.com/dev/twilio/status/c1"
FORM = {"CallSid": "CA1", "CallStatus": "ringing", "CallerCity": "", "To": "+14155550123"}


def _sign(url: str, form: dict[str, str], token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, form))


def test_signed_form_with_blank_values_validates() -> None:
    body = urlencode(FORM)
    assert is_valid_twilio_request(TOKEN, URL, parse_form(body), _sign(URL, FORM))


@pytest.mark.parametrize(
    ("token", "body", "signature_url", "header"),
    [
        ("wrong-token", urlencode(FORM), URL, True),
        (TOKEN, urlencode({**FORM, "CallStatus": "completed"}), URL, True),  # tampered body
        (TOKEN, urlencode(FORM), URL.replace("/dev/", "/prod/"), True),  # wrong URL
        (TOKEN, urlencode(FORM), URL, False),  # missing header
    ],
)
def test_rejections(token: str, body: str, signature_url: str, header: bool) -> None:
    signature = _sign(signature_url, FORM) if header else None
    assert not is_valid_twilio_request(token, URL, parse_form(body), signature)


def test_repeated_fields_are_all_signed() -> None:
    body = "A=1&A=2&B="
    signature = str(RequestValidator(TOKEN).compute_signature(URL, parse_form(body)))
    assert is_valid_twilio_request(TOKEN, URL, parse_form(body), signature)
    assert not is_valid_twilio_request(TOKEN, URL, parse_form("A=1&B="), signature)


def test_url_rules() -> None:
    # Configured public URL wins (custom domain with a base path).
    assert (
        signed_request_url(
            public_api_url="https://calls.example.com/v1",
            route_path="/twilio/status/c1",
            host="abc.execute-api.us-east-1.amazonaws.com",
            context_path="/dev/twilio/status/c1",
        )
        == "https://calls.example.com/v1/twilio/status/c1"
    )
    # Derived on execute-api: the stage is in requestContext.path.
    assert signed_request_url(
        public_api_url=None,
        route_path="/twilio/status/c1",
        host="abc.example",
        context_path="/dev/twilio/status/c1",
    ) == ("https://abc.example/dev/twilio/status/c1")
    # Derived on a custom domain: the base path is in requestContext.path.
    assert api_base_url(
        public_api_url=None, route_path="/calls", host="calls.example.com", context_path="/v1/calls"
    ) == ("https://calls.example.com/v1")
    assert (
        api_base_url(public_api_url=None, route_path="/calls", host="abc.example", context_path="/dev/calls")
        == "https://abc.example/dev"
    )
    assert signed_request_url(public_api_url=None, route_path="/x", host=None, context_path=None) is None


def test_stream_handshake_uses_the_wss_url_and_no_params() -> None:
    url = "wss://stream.example.com/media"
    signature = str(RequestValidator(TOKEN).compute_signature(url, {}))
    assert is_valid_stream_handshake(TOKEN, url, signature)
    assert not is_valid_stream_handshake(TOKEN, "https://stream.example.com/media", signature)
    assert not is_valid_stream_handshake("other", url, signature)
    assert not is_valid_stream_handshake(TOKEN, url, None)


# --- Webhook Rules: a SharedKey signs with HMAC-SHA256 (issue 16, fix 7) --------------------------


def _rule_signed(
    url: str, params: dict[str, str], key_id: str = "HKrule", secret: str = "rule-secret"
) -> dict[str, str]:
    from local.twilio_emulator.webhooks import Signer

    return Signer("auth-token", key_id, secret).sign(url, params)


def test_webhook_rule_signature_is_checked_with_its_shared_key() -> None:
    from callcore.signatures import FormParams, is_valid_twilio_request

    url, params = "https://api.example.com/prod/twilio/status/c1", {"CallSid": "CA1", "CallerCity": ""}
    headers = _rule_signed(url, params)
    settings_header = headers["X-Twilio-Webhooks-Signature-Settings"]
    form = FormParams(list(params.items()))
    keys = (("HKold", "old-secret"), ("HKrule", "rule-secret"))
    assert is_valid_twilio_request(
        "auth-token",
        url,
        form,
        headers["X-Twilio-Signature"],
        signature_settings=settings_header,
        shared_keys=keys,
    )
    # Without the key (or with the Auth Token alone) the request is refused, never waved through.
    assert not is_valid_twilio_request(
        "auth-token", url, form, headers["X-Twilio-Signature"], signature_settings=settings_header
    )
    assert not is_valid_twilio_request("auth-token", url, form, headers["X-Twilio-Signature"])
    # An algorithm the library does not know is refused too.
    assert not is_valid_twilio_request(
        "auth-token",
        url,
        form,
        headers["X-Twilio-Signature"],
        signature_settings="key=HKrule,algorithm=HMAC_SHA512",
        shared_keys=keys,
    )


def test_shared_keys_setting_is_parsed_or_refused_at_start() -> None:
    from callcore.settings import Settings, SettingsError

    settings = Settings.from_env({"TWILIO_WEBHOOK_SHARED_KEYS": "HKa=s3cret-a, HKb=s3cret-b"})
    assert settings.twilio_webhook_shared_keys == (("HKa", "s3cret-a"), ("HKb", "s3cret-b"))
    assert "s3cret" not in repr(settings)
    with pytest.raises(SettingsError, match="key_id=secret") as refused:
        Settings.from_env({"TWILIO_WEBHOOK_SHARED_KEYS": "HKa:topsecret"})
    assert "topsecret" not in str(refused.value)
