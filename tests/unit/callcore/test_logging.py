from __future__ import annotations

import json
import logging

import pytest
from callcore.logging import build_logger, mask_phone, mask_phones_in


@pytest.mark.parametrize(
    ("number", "masked"),
    [("+14155550123", "+1********23"), ("+447700900123", "+4*********23"), ("", ""), ("123", "***")],
)
def test_mask_phone(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


def test_mask_phones_in_text_keeps_other_words() -> None:
    out = mask_phones_in("dialling +14155550123 for call abc-1")
    assert "4155550123" not in out and "call abc-1" in out


def test_logger_masks_numbers_in_messages(capsys: pytest.CaptureFixture[str]) -> None:
    logger = build_logger("masking-test")
    logger.info("placing call to %s", "+14155550123")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "4155550123" not in line["message"]
    assert line["message"].startswith("placing call to +1")
    assert logging.getLogger("masking-test") is not None


def test_mask_phones_in_text_masks_common_spellings() -> None:
    for text in ("+1 415 555 0123", "+44-20-7946-0958", "14155550123", "(415) 555-0123"):
        out = mask_phones_in(f"to {text} now")
        assert "0123" not in out and "0958" not in out, out


def test_mask_phones_in_text_masks_a_number_that_ends_a_sentence() -> None:
    out = mask_phones_in("Could not dial +14155550123. Number 14155550124.")
    assert "4155550123" not in out and "4155550124" not in out and out.endswith(".")


def test_mask_phones_in_text_leaves_addresses_dates_and_times() -> None:
    text = "listening on 127.0.0.1:18099 at 2026-11-25T12:16:29.664Z, took 1234.56 ms, call 42"
    assert mask_phones_in(text) == text
