"""Written text -> spoken words before TTS, and the pipeline applying it to every sentence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from local.fake_providers.in_process import FakeLanguageModel, FakeTextToSpeech
from stream_server.speech.pipeline import ApologyClip, ReplyStats, Voice, speak_reply, speak_text
from stream_server.speech.text_normalization import (
    cardinal,
    normalize_for_speech,
    ordinal,
    strip_markdown,
    year_words,
)


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("It costs $12.50 today.", "It costs twelve dollars and fifty cents today."),
        ("Only $1, or $0.99 online.", "Only one dollar, or ninety-nine cents online."),
        ("A $3 million deal and £5.", "A three million dollars deal and five pounds."),
        ("Meet at 10:30, okay?", "Meet at ten thirty, okay?"),
        ("At 10:05 or 10:00.", "At ten oh five or ten o clock."),
        ("Open 9am to 5:30 p.m.", "Open nine a m to five thirty p m."),
        ("Landing at 14:00 today.", "Landing at fourteen hundred today."),
        (
            "Call +14155550123 now.",
            "Call plus one, four one five, five five five, zero one two three now.",
        ),
        ("Or (415) 555-0123.", "Or four one five, five five five, zero one two three."),
        ("Dial +442079460000.", "Dial plus four four two, zero seven nine, four six zero, zero zero zero."),
        ("Write to john.doe@example.com today.", "Write to john dot doe at example dot com today."),
        ("See https://www.example.com/help.", "See example dot com slash help."),
        ("That is 15% off, or 2.5%.", "That is fifteen percent off, or two point five percent."),
        ("On 2024-03-15 we meet.", "On March fifteenth, twenty twenty-four we meet."),
        ("Due 12/31/2025.", "Due December thirty-first, twenty twenty-five."),
        ("By Mar 3rd, 2009.", "By March third, two thousand nine."),
        ("Founded in 1999.", "Founded in nineteen ninety-nine."),
        ("The 21st and 22nd.", "The twenty-first and twenty-second."),
        ("We have 1,234 seats.", "We have one thousand two hundred thirty-four seats."),
        ("Pi is 3.14.", "Pi is three point one four."),
        ("Code 00123 and order #12.", "Code zero zero one two three and order number twelve."),
        ("Salt & pepper, -5 degrees.", "Salt and pepper, minus five degrees."),
    ],
)
def test_spoken_forms(written: str, spoken: str) -> None:
    assert normalize_for_speech(written) == spoken


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("**Open** daily, *except* _Sundays_.", "Open daily, except Sundays."),
        ("## Opening hours", "Opening hours"),
        ("- first item", "first item"),
        ("2. second item", "second item"),
        ("1.", ""),
        ("---", ""),
        ("Read [our page](https://x.example/a) or ![map](m.png).", "Read our page or map."),
        ("Run `make demo` first.", "Run make demo first."),
        ("```python\nprint(1)\n```", "print(1)"),
        ("> quoted words", "quoted words"),
        ("| Day | Hours |\n|---|---|\n| Mon | 9 |", "Day, Hours, Mon, 9"),
        ("snake_case and 2*3*4 stay", "snake_case and 2*3*4 stay"),
    ],
)
def test_markdown_is_stripped_words_kept(markdown: str, plain: str) -> None:
    assert strip_markdown(markdown) == plain


def test_number_words() -> None:
    assert cardinal(0) == "zero"
    assert cardinal(115) == "one hundred fifteen"
    assert cardinal(2_000_019) == "two million nineteen"
    assert ordinal(1) == "first" and ordinal(12) == "twelfth" and ordinal(40) == "fortieth"
    assert ordinal(103) == "one hundred third"
    assert year_words(1905) == "nineteen oh five" and year_words(2000) == "two thousand"
    assert year_words(1900) == "nineteen hundred"


def test_other_languages_only_lose_markdown() -> None:
    assert normalize_for_speech("**Cuesta** 12 euros", language="es") == "Cuesta 12 euros"


@given(st.text(max_size=80))
def test_never_raises_and_never_leaves_digits_or_markup(text: str) -> None:
    spoken = normalize_for_speech(text)
    assert "**" not in spoken
    assert not any(ch.isdigit() and ch.isascii() for ch in spoken)


async def test_pipeline_speaks_the_spoken_form_and_keeps_the_written_one() -> None:
    tts = FakeTextToSpeech(bytes_per_char=1, chunk_bytes=1000)
    llm = FakeLanguageModel(reply=lambda m: "Here you go:\n1. **Tea** is $2.50.\n2. Call +14155550123.")
    stats = ReplyStats(started_at=0.0)
    chunks = [
        c
        async for c in speak_reply(
            llm=llm,
            tts=tts,
            messages=[],
            model="m",
            voice=Voice("v"),
            apology=ApologyClip("sorry", b"\x00"),
            stats=stats,
        )
    ]
    assert tts.texts == [
        "Here you go:",
        "Tea is two dollars and fifty cents.",
        "Call plus one, four one five, five five five, zero one two three.",
    ]
    # Sentence indices stay dense (the bare "1." took none) and carry the written text.
    assert [(c.sentence, c.text) for c in chunks] == [
        (0, "Here you go:"),
        (1, "**Tea** is $2.50."),
        (2, "Call +14155550123."),
    ]


async def test_fixed_text_is_normalised_too() -> None:
    tts = FakeTextToSpeech()
    stats = ReplyStats(started_at=0.0)
    out = [
        c
        async for c in speak_text(
            tts=tts, text="We close at 6pm.", voice=Voice("v"), apology=None, stats=stats
        )
    ]
    assert tts.texts == ["We close at six p m."]
    assert out[0].text == "We close at 6pm."
