"""Create-call parameters are validated with Twilio's codes."""

import pytest

from local.twilio_emulator.call_request import parse_call_request, parse_call_update
from local.twilio_emulator.errors import TwilioError

GOOD = {"To": ["+15551230000"], "From": ["+15557654321"], "Url": ["https://api.example.com/answer"]}


def _code(form: dict[str, list[str]]) -> int:
    with pytest.raises(TwilioError) as caught:
        parse_call_request(form)
    return caught.value.code


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"To": []}, 21201),
        ({"To": ["5551230000"]}, 21211),
        ({"From": []}, 21213),
        ({"From": ["+0123"]}, 21212),
        ({"Url": []}, 21200),
        ({"Url": ["not a url"]}, 21205),
        ({"Twiml": ["<Response/>"]}, 21200),
        ({"StatusCallback": ["ftp://x"]}, 21609),
        ({"StatusCallbackMethod": ["PUT"]}, 21200),
        ({"StatusCallbackEvent": ["initiated bogus"]}, 21200),
        ({"MachineDetection": ["Maybe"]}, 21200),
    ],
)
def test_bad_parameters_get_twilio_codes(change: dict[str, list[str]], code: int) -> None:
    assert _code({**GOOD, **change}) == code


def test_events_accept_spaces_and_repeats_and_always_include_completed() -> None:
    form = {
        **GOOD,
        "StatusCallbackEvent": ["initiated ringing", "answered"],
        "StatusCallback": ["https://a/s"],
    }
    request = parse_call_request(form)
    assert request.status_callback_events == {"initiated", "ringing", "answered", "completed"}
    assert parse_call_request(GOOD).status_callback_events == {"completed"}


def test_update_accepts_hangup_and_refuses_other_status() -> None:
    assert parse_call_update({"Status": ["completed"]}).status == "completed"
    with pytest.raises(TwilioError):
        parse_call_update({"Status": ["in-progress"]})
