"""callcore.credentials: the Twilio secret read from Secrets Manager (moto) and cached 300 s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from callcore.aws_session import reset_aws_session
from callcore.credentials import SECRET_MAX_AGE_SECONDS, forget_cached_secrets, twilio_credentials
from callcore.settings import Settings

GOOD = {"account_sid": "AC" + "1" * 32, "auth_token": "tok-1", "stream_token_secret": "key-1"}


@pytest.fixture
def secrets(aws_env: None) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        reset_aws_session()
        forget_cached_secrets()
        yield boto3.client("secretsmanager", region_name="us-east-1")
        forget_cached_secrets()


def test_environment_values_when_no_secret_is_configured() -> None:
    creds = twilio_credentials(Settings(twilio_auth_token="env-token", stream_token_secret="env-key"))
    assert (creds.auth_token, creds.stream_token_secret) == ("env-token", "env-key")
    assert "env-token" not in repr(creds) and "env-key" not in repr(creds)


def test_secret_is_cached_for_max_age(secrets: Any) -> None:
    arn = secrets.create_secret(Name="twilio", SecretString=json.dumps(GOOD))["ARN"]
    settings = Settings(twilio_secret_arn=arn, twilio_auth_token="env-token")
    assert twilio_credentials(settings).auth_token == "tok-1"
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({**GOOD, "auth_token": "tok-2"}))
    assert twilio_credentials(settings).auth_token == "tok-1"  # served from the cache, no read
    forget_cached_secrets()
    assert twilio_credentials(settings).auth_token == "tok-2"  # a fresh read sees the rotation


def test_cache_expires_after_max_age(secrets: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Powertools keeps the value for max_age seconds; with 0 every call reads Secrets Manager again."""
    import callcore.credentials as credentials

    assert SECRET_MAX_AGE_SECONDS == 300
    monkeypatch.setattr(credentials, "SECRET_MAX_AGE_SECONDS", 0)
    arn = secrets.create_secret(Name="twilio-short", SecretString=json.dumps(GOOD))["ARN"]
    settings = Settings(twilio_secret_arn=arn)
    assert twilio_credentials(settings).auth_token == "tok-1"
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({**GOOD, "auth_token": "tok-2"}))
    assert twilio_credentials(settings).auth_token == "tok-2"


@pytest.mark.parametrize(
    "secret_string",
    ["not json {", json.dumps({"account_sid": "AC1", "auth_token": "t"}), json.dumps(["a"])],
    ids=["not-json", "missing-key", "not-an-object"],
)
def test_malformed_secret_is_a_clear_error_that_never_echoes_it(secrets: Any, secret_string: str) -> None:
    arn = secrets.create_secret(Name="bad", SecretString=secret_string)["ARN"]
    with pytest.raises(ValueError) as raised:
        twilio_credentials(Settings(twilio_secret_arn=arn))
    assert "Twilio secret" in str(raised.value) and secret_string not in str(raised.value)


def test_missing_secret_raises_the_aws_error(secrets: Any) -> None:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"
    with pytest.raises(GetParameterError, match="ResourceNotFoundException"):
        twilio_credentials(Settings(twilio_secret_arn=arn))
