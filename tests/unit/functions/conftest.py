from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aws_lambda_powertools import Metrics
from twilio.request_validator import RequestValidator

from local.fake_twilio_rest import FakeTwilioRest
from local.proxy_events import api_event

AUTH_TOKEN = "0f3c9e1a7b2d4c6e8a0b1c2d3e4f5a6b"  # 32 hex characters, like a real one
PUBLIC_API_URL = "https://calls.example.com/v1"
STREAM_URL = "wss://stream.example.com/media"
STREAM_SECRET = "test-stream-secret-with-48-characters-of-entropy"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioRest]:
    fake = FakeTwilioRest().start()
    yield fake
    fake.stop()


@pytest.fixture
def handler_env(
    ddb_table: Any, fake_twilio: FakeTwilioRest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """Environment of a deployed function, with moto for DynamoDB and the fake Twilio REST API.

    Returns a loader that (re)imports a handler module inside the mock, as Lambda would cold-start it.
    """
    for name, value in {
        "TABLE_NAME": "ai-phone-calls",
        "TWILIO_API_BASE_URL": fake_twilio.base_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_API_URL": PUBLIC_API_URL,
        "STREAM_PUBLIC_URL": STREAM_URL,
        "STREAM_TOKEN_SECRET": STREAM_SECRET,
        "MAX_CONCURRENT_CALLS_PER_USER": "2",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TWILIO_SECRET_ARN", raising=False)
    from callcore.aws_session import reset_aws_session
    from callcore.credentials import forget_cached_secrets

    # Clients must come from a session made inside this test's moto mock, and no secret may
    # outlive the test that created it.
    reset_aws_session()
    forget_cached_secrets()

    def load(name: str) -> Any:
        module = importlib.import_module(f"functions.{name}.{name}")
        module = importlib.reload(module)
        # Powertools keeps metrics in one set shared by the process. With POWERTOOLS_METRICS_DISABLED
        # (the local stack's setting) a flush neither prints nor clears it, so values the e2e stack's
        # in-process handlers added would come out of this test's first enabled flush. A new
        # container starts empty.
        Metrics().clear_metrics()
        return module

    yield load
    forget_cached_secrets()


def signed_event(
    resource: str,
    form: dict[str, str],
    *,
    path_params: dict[str, str] | None = None,
    token: str = AUTH_TOKEN,
    public_url: str = PUBLIC_API_URL,
    **kwargs: Any,
) -> dict[str, Any]:
    """A Twilio form POST signed the way Twilio signs it (over the public URL it called)."""
    event = api_event(
        "POST", resource, path_params=path_params, body=urlencode(form), api_key_id=None, **kwargs
    )
    path = resource
    for name, value in (path_params or {}).items():
        path = path.replace("{" + name + "}", value)
    signature = RequestValidator(token).compute_signature(public_url + path, form)
    event["headers"]["X-Twilio-Signature"] = signature
    event["headers"]["Content-Type"] = "application/x-www-form-urlencoded"
    return event
