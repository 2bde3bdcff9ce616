"""How much silence ends the caller's turn, judged from what they have said so far.

A fixed silence threshold is either too eager ("I'd like to book... a table" gets cut at the
pause) or too slow (a finished "What time do you open?" waits as long as a hesitation). This
module reads the recogniser's latest partial transcript and returns the silence the turn detector
should wait for: short after a complete question or answer, long after a word that promises more
("and", "to", "the", "um"), the persona's usual silence when it cannot tell.

Pure text rules, no model and no clock: they cost microseconds, run on any CPU, and degrade to
plain VAD silence when the recogniser gives no partials (the offline engine often does not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = ["Completeness", "EndOfTurnSettings", "judge_completeness", "silence_needed_ms"]


class Completeness(Enum):
    """What the words so far say about whether the caller has finished."""

    COMPLETE = "complete"  # a closed question/answer: decide fast
    LIKELY = "likely"  # ends on a word that usually ends a sentence, no punctuation to confirm
    UNKNOWN = "unknown"  # no text, or nothing to go on: the persona's usual silence
    INCOMPLETE = "incomplete"  # a conjunction, article, filler or trailing comma: wait longer


@dataclass(frozen=True, slots=True)
class EndOfTurnSettings:
    """Silence bounds for the adaptive end of turn (milliseconds).

    Attributes:
        min_silence_ms: silence that ends a turn whose words are clearly complete.
        max_silence_ms: silence that ends a turn whose words clearly promise more; a caller who
            stays quiet this long after "and..." has stopped anyway.
        semantic: False turns the text rules off (plain VAD silence, for comparison).
    """

    min_silence_ms: int = 250
    max_silence_ms: int = 1600
    semantic: bool = True


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words after which an English sentence almost never stops: coordinating and subordinating
# conjunctions, articles and determiners, prepositions, auxiliaries and hesitation sounds.
_CONTINUATION = _wordset(
    """
    and but or so because cause if when while although though unless until than that which who
    whose where whether then also plus nor yet
    a an the my your our their his her its this these those some any every each another
    to of for with at in on from by about into onto over under between through after before
    like as per via without within towards toward
    is are was were be been being am will would can could should shall may might must do does
    did have has had i'm i'd i'll we're we'd you're it's there's
    um uh er erm hmm mm ah eh well
    """
)

# Short answers and closers that are whole turns on their own.
_CLOSERS = _wordset(
    """
    yes yeah yep no nope okay ok sure right thanks please correct exactly fine great perfect
    good done bye goodbye
    """
)

# "I'd like to book..." : an infinitive whose verb usually takes an object the caller has not said.
_TRANSITIVE = _wordset(
    """
    book make get order buy reserve schedule cancel change check find pay ask know see tell
    send bring take add move
    """
)

_QUESTION_START = _wordset(
    "what when where who whom whose why how which is are do does did can could will would should may"
)

_WORD = re.compile(r"[a-z']+")


def judge_completeness(text: str) -> Completeness:
    """Classify a partial transcript by its ending.

    Punctuation wins when the recogniser gives it: a trailing "?" or "." / "!" closes the turn,
    a trailing comma, dash or ellipsis keeps it open. Without punctuation the last word decides.
    """
    stripped = text.strip()
    if not stripped:
        return Completeness.UNKNOWN
    words = _WORD.findall(stripped.lower())
    if not words:
        return Completeness.UNKNOWN
    last = words[-1]
    if stripped.endswith(("...", "…", ",", "-", "—", ";", ":")):
        return Completeness.INCOMPLETE
    if last in _CONTINUATION:
        # "What is it?" ends with a punctuated auxiliary; a question mark beats the word list.
        return Completeness.COMPLETE if stripped.endswith("?") else Completeness.INCOMPLETE
    if stripped.endswith(("?", ".", "!")):
        return Completeness.COMPLETE
    if len(words) >= 2 and words[-2] == "to" and last in _TRANSITIVE:
        return Completeness.INCOMPLETE
    if last in _CLOSERS:
        return Completeness.LIKELY
    if len(words) >= 3 and words[0] in _QUESTION_START:
        return Completeness.LIKELY
    return Completeness.UNKNOWN


def silence_needed_ms(text: str, *, base_ms: int, settings: EndOfTurnSettings) -> int:
    """Silence (ms) that should end the turn given the words so far.

    ``base_ms`` is the persona's end-of-turn silence, used when the words say nothing; the
    result always lies within ``[min_silence_ms, max(base_ms, max_silence_ms)]``.
    """
    if not settings.semantic:
        return base_ms
    low = min(settings.min_silence_ms, base_ms)
    high = max(settings.max_silence_ms, base_ms)
    verdict = judge_completeness(text)
    if verdict is Completeness.COMPLETE:
        return low
    if verdict is Completeness.LIKELY:
        return (low + base_ms) // 2
    if verdict is Completeness.INCOMPLETE:
        return high
    return base_ms
