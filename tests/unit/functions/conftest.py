from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.callcore.fake_twilio_rest import FakeTwilioRest


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioRest]:
    fake = FakeTwilioRest().start()
    yield fake
    fake.stop()
