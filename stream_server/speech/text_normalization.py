"""Turning written text into what a voice should say, just before it reaches TextToSpeech.

LLMs write for screens: markdown, "$12.50", "10:30", "+14155550123", "jo@shop.com", "15%".
Neural TTS engines guess at these and often guess wrong ("dollar sign twelve point five zero",
a phone number read as fourteen billion, asterisks read aloud); eSpeak guesses worse. So every
sentence is rewritten into plain words first. The transcript and the LLM history keep the
original text: only the audio sees this rewriting.

Pure functions over strings, English only (personas in other languages get the markdown pass
only, since number words are language specific). The rules run in a fixed order, most specific
first, so an e-mail address is spelled out before its dots could be read as decimal points.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "cardinal",
    "digits_spoken",
    "normalize_for_speech",
    "ordinal",
    "strip_markdown",
    "year_words",
]

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DIGIT_WORDS = dict(zip("0123456789", _ONES[:10], strict=True))


def _below_thousand(n: int) -> str:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words.append(f"{_ONES[hundreds]} hundred")
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest or not hundreds:
        words.append(_ONES[rest])
    return " ".join(words)


def cardinal(n: int) -> str:
    """An integer in words: 1234 -> 'one thousand two hundred thirty-four'."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n < 1000:
        return _below_thousand(n)
    words: list[str] = []
    for scale, name in _SCALES:
        if n >= scale:
            count, n = divmod(n, scale)
            words.append(f"{cardinal(count)} {name}")
    if n:
        words.append(_below_thousand(n))
    return " ".join(words)


def ordinal(n: int) -> str:
    """1 -> 'first', 22 -> 'twenty-second', 100 -> 'one hundredth'."""
    words = cardinal(n)
    head, sep, last = words.rpartition("-") if "-" in words.split(" ")[-1] else words.rpartition(" ")
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head}{sep}{last}"


def digits_spoken(digits: str, *, groups: tuple[int, ...] = ()) -> str:
    """Digit by digit, with a comma between groups so the voice pauses where a person would."""
    clean = [d for d in digits if d.isdigit()]
    spoken = [_DIGIT_WORDS[d] for d in clean]
    if not groups:
        return " ".join(spoken)
    parts: list[str] = []
    start = 0
    for size in groups:
        if start >= len(spoken):
            break
        parts.append(" ".join(spoken[start : start + size]))
        start += size
    if start < len(spoken):
        parts.append(" ".join(spoken[start:]))
    return ", ".join(parts)


def year_words(year: int) -> str:
    """2024 -> 'twenty twenty-four', 1999 -> 'nineteen ninety-nine', 2005 -> 'two thousand five'."""
    if 2000 <= year <= 2009 or year % 1000 == 0 or not 1000 <= year <= 2099:
        return cardinal(year)
    high, low = divmod(year, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} {'oh ' + _ONES[low] if low < 10 else cardinal(low)}"


def _number(text: str) -> str:
    """A written number (commas, decimals, leading zeros) in words."""
    text = text.replace(",", "")
    whole, _, fraction = text.partition(".")
    if (len(whole) > 1 and whole.startswith("0")) or len(whole) > 12:
        spoken = digits_spoken(whole)
    else:
        spoken = cardinal(int(whole or "0"))
    if fraction:
        spoken += " point " + digits_spoken(fraction)
    return spoken


# --- markdown --------------------------------------------------------------------------------------

_MD_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"```[a-zA-Z0-9_+-]*\n?"), ""),  # code fences (the code itself is kept)
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: the alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: the link text
    (re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE), ""),  # headings
    (re.compile(r"^\s*>\s?", re.MULTILINE), ""),  # block quotes
    (re.compile(r"^\s*([-*_]\s*){3,}$", re.MULTILINE), ""),  # horizontal rules
    (re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+", re.MULTILINE), ""),  # list markers
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *italic*
    (re.compile(r"(?<![\w_])_(?=\S)([^_]+?)(?<=\S)_(?![\w_])"), r"\1"),  # _italic_
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"^\s*\|?[-:|\s]+\|[-:|\s]*$", re.MULTILINE), ""),  # table separator rows
    (re.compile(r"\s*\|(?:\s*\|)*\s*"), ", "),  # table cells (row ends fold into one pause)
)
_LONE_MARKER = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*+•#>]+)\s*$")


def strip_markdown(text: str) -> str:
    """Markdown's syntax removed, its words kept: '**Open** [here](http://x)' -> 'Open here'."""
    if _LONE_MARKER.match(text):
        return ""  # a list number the sentence splitter cut off on its own: nothing to say
    for pattern, replacement in _MD_RULES:
        text = pattern.sub(replacement, text)
    text = text.replace("**", "").replace("##", "")
    return re.sub(r"[ \t]*\n+[ \t]*", " ", text).strip(" ,")


# --- spoken forms ----------------------------------------------------------------------------------

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_URL = re.compile(r"\bhttps?://([^\s<>\"')\]]+?)(?=[.,;:!?]?(?:\s|$))")
_PHONE_E164 = re.compile(r"(?<![\w+])\+(\d{7,15})\b")
_PHONE_NANP = re.compile(r"(?<![\w+])(?:\+?1[ .-]?)?\(?(\d{3})\)?[ .-](\d{3})[ .-](\d{4})\b")
_MONEY = re.compile(
    r"(?<![\w])([$€£])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?:\s?(thousand|million|billion|[kKmMbB])\b)?"
)
_PERCENT = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)\s?%")
_AMPM = r"(?:\s?([AaPp])(?:\.[Mm]\.|[Mm])(?![A-Za-z]))"
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)" + _AMPM + "?")
_HOUR_AMPM = re.compile(r"\b(1[0-2]|0?[1-9])" + _AMPM)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_US_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_MONTH_DAY = re.compile(
    r"\b("
    + "|".join(_MONTHS)
    + r"|"
    + "|".join(m[:3] for m in _MONTHS)
    + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b"
    r"(?:,?\s+(\d{4})\b)?"
)
_ORDINAL_NUM = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_YEAR_CONTEXT = re.compile(
    r"\b(in|since|by|until|from|of|year|during|before|after)\s+(1[1-9]\d\d|20\d\d)\b", re.I
)
# Digits glued to letters ("A4", "mp3") are still read; a minus sign only counts after a space.
_NUMBER = re.compile(r"(?:(?<![^\s(])(-))?(?<!\d)(\d{1,3}(?:,\d{3})+(?!\d)|\d+)(\.\d+)?")
_SYMBOLS = ((re.compile(r"\s*&\s*"), " and "), (re.compile(r"#(?=\d)"), "number "))
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
             "£": ("pound", "pounds", "penny", "pence")}  # fmt: skip
_SCALE_WORDS = {"k": "thousand", "m": "million", "b": "billion"}


def _spell_address(text: str) -> str:
    out = text.replace(".", " dot ").replace("@", " at ").replace("/", " slash ")
    out = out.replace("_", " underscore ").replace("-", " dash ")
    return re.sub(r"\s+", " ", out).strip()


def _email(m: re.Match[str]) -> str:
    return _spell_address(m.group(0))


def _url(m: re.Match[str]) -> str:
    return _spell_address(m.group(1).removeprefix("www.").rstrip("/"))


def _phone_e164(m: re.Match[str]) -> str:
    digits = m.group(1)
    if len(digits) == 11 and digits.startswith("1"):
        return "plus one, " + digits_spoken(digits[1:], groups=(3, 3, 4))
    return "plus " + digits_spoken(digits, groups=(3, 3, 3, 3, 3))


def _phone_nanp(m: re.Match[str]) -> str:
    return digits_spoken("".join(m.groups()), groups=(3, 3, 4))


def _money(m: re.Match[str]) -> str:
    symbol, whole, cents, scale = m.group(1), int(m.group(2).replace(",", "")), m.group(3), m.group(4)
    one, many, cent, cents_word = _CURRENCY[symbol]
    if scale:
        amount = _number(m.group(2) + (f".{cents}" if cents else ""))
        return f"{amount} {_SCALE_WORDS.get(scale.lower(), scale.lower())} {many}"
    parts = []
    if whole or not cents:
        parts.append(f"{cardinal(whole)} {one if whole == 1 else many}")
    if cents:
        value = int(cents.ljust(2, "0"))
        if value:
            parts.append(f"{cardinal(value)} {cent if value == 1 else cents_word}")
    return " and ".join(parts)


def _percent(m: re.Match[str]) -> str:
    value = m.group(1)
    sign = "minus " if value.startswith("-") else ""
    return f"{sign}{_number(value.lstrip('-'))} percent"


def _ampm(letter: str | None, m: re.Match[str]) -> str:
    if not letter:
        return ""
    spoken = " a m" if letter.lower() == "a" else " p m"
    # "p.m." swallowed the full stop; give it back when it also ended the sentence.
    return spoken + "." if m.group(0).endswith(".") and not m.string[m.end() :].strip() else spoken


def _time(m: re.Match[str]) -> str:
    hour, minute, suffix = int(m.group(1)), int(m.group(2)), m.group(3)
    if suffix is None and hour >= 13 and minute == 0:
        return f"{cardinal(hour)} hundred"
    hour_words = cardinal(hour if suffix is None or hour else 12)
    if minute == 0:
        spoken = f"{hour_words}{'' if suffix else ' o clock'}"
    elif minute < 10:
        spoken = f"{hour_words} oh {_ONES[minute]}"
    else:
        spoken = f"{hour_words} {cardinal(minute)}"
    return spoken + _ampm(suffix, m)


def _hour_ampm(m: re.Match[str]) -> str:
    return cardinal(int(m.group(1))) + _ampm(m.group(2), m)


def _date(year: int, month: int, day: int) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{_MONTHS[month - 1]} {ordinal(day)}, {year_words(year)}"


def _iso_date(m: re.Match[str]) -> str:
    return _date(int(m.group(1)), int(m.group(2)), int(m.group(3))) or m.group(0)


def _us_date(m: re.Match[str]) -> str:
    return _date(int(m.group(3)), int(m.group(1)), int(m.group(2))) or m.group(0)


def _month_day(m: re.Match[str]) -> str:
    name = next(full for full in _MONTHS if full.lower().startswith(m.group(1).lower()[:3]))
    day = int(m.group(2))
    if not 1 <= day <= 31:
        return m.group(0)
    spoken = f"{name} {ordinal(day)}"
    return spoken + (f", {year_words(int(m.group(3)))}" if m.group(3) else "")


def _ordinal(m: re.Match[str]) -> str:
    return ordinal(int(m.group(1)))


def _year(m: re.Match[str]) -> str:
    return f"{m.group(1)} {year_words(int(m.group(2)))}"


def _plain_number(m: re.Match[str]) -> str:
    sign, whole, fraction = m.group(1), m.group(2), m.group(3) or ""
    spoken = ("minus " if sign else "") + _number(whole + fraction)
    # "A4" -> "A four", not "Afour": keep the number a word of its own.
    before = m.string[m.start() - 1 : m.start()]
    after = m.string[m.end() : m.end() + 1]
    return (" " if before.isalnum() else "") + spoken + (" " if after.isalnum() else "")


_SPOKEN_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_EMAIL, _email),
    (_URL, _url),
    (_PHONE_E164, _phone_e164),
    (_PHONE_NANP, _phone_nanp),
    (_ISO_DATE, _iso_date),
    (_US_DATE, _us_date),
    (_MONTH_DAY, _month_day),
    (_MONEY, _money),
    (_PERCENT, _percent),
    (_TIME, _time),
    (_HOUR_AMPM, _hour_ampm),
    (_ORDINAL_NUM, _ordinal),
    (_YEAR_CONTEXT, _year),
    (_NUMBER, _plain_number),
)


def normalize_for_speech(text: str, *, language: str = "en") -> str:
    """The words a voice should say for ``text``; '' when nothing is left worth saying."""
    text = strip_markdown(text)
    if not language.lower().startswith("en"):
        return text
    for pattern, replacement in _SYMBOLS:
        text = pattern.sub(replacement, text)
    for pattern, spoken in _SPOKEN_RULES:
        text = pattern.sub(spoken, text)
    text = re.sub(r"\s{2,}", " ", text).strip()
    return text if re.search(r"\w", text) else ""
