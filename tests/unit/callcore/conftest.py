from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.fake_twilio_rest import FakeTwilioRest


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioRest]:
    fake = FakeTwilioRest().start()
    yield fake
    fake.stop()


@pytest.fixture(params=["boto3 Table resource", "plain client (from_settings)"])
def repo_table(request: pytest.FixtureRequest, ddb_table: Any) -> Any:
    """The same moto table seen both ways ``CallRepository`` accepts, so every repository test
    proves the two paths behave alike: a boto3 resource (tests, local stack) and the lazily built
    botocore client the deployed handlers and the stream host use."""
    if request.param.startswith("boto3"):
        return ddb_table
    from callcore.aws_session import reset_aws_session
    from callcore.repository import build_table
    from callcore.settings import Settings

    reset_aws_session()  # a session from before moto's import would bypass the mock
    return build_table(Settings.from_env())
