"""Is the caller taking the floor, or only saying "uh-huh" while the bot talks?

Listeners signal attention ("mm-hmm", "okay", "right", "I see") without asking for the turn.
Treating those as interruptions makes a voice agent stop mid-sentence every few seconds, so a
barge-in needs words, and words that are more than a backchannel. The rule is text only: it
runs on the recogniser's partial transcripts of the speech that overlapped the bot.

Pure functions; no clock, no state.
"""

from __future__ import annotations

import re
from enum import Enum

__all__ = ["OverlapVerdict", "is_backchannel", "judge_overlap"]

# Whole-utterance acknowledgements, as recognisers spell them (hyphens and repeats vary).
_BACKCHANNELS = frozenset(
    {
        "uh huh",
        "uh-huh",
        "uhuh",
        "mm hmm",
        "mm-hmm",
        "mhm",
        "mmhmm",
        "hmm",
        "mm",
        "hm",
        "um hum",
        "okay",
        "ok",
        "k",
        "right",
        "alright",
        "all right",
        "yeah",
        "yep",
        "yes",
        "yup",
        "sure",
        "i see",
        "got it",
        "gotcha",
        "cool",
        "great",
        "nice",
        "oh",
        "ah",
        "ah ok",
        "oh okay",
        "oh ok",
        "oh i see",
        "right right",
        "exactly",
        "indeed",
        "uh",
        "um",
        "huh",
        "wow",
        "sounds good",
        "that's right",
        "that makes sense",
        "of course",
    }
)

_TOKEN = re.compile(r"[a-z']+(?:-[a-z']+)*")


class OverlapVerdict(Enum):
    """What the words said over the bot amount to."""

    NO_WORDS = "no_words"
    BACKCHANNEL = "backchannel"
    TAKES_FLOOR = "takes_floor"


def _normalise(text: str) -> str:
    return " ".join(_TOKEN.findall(text.lower()))


def is_backchannel(text: str) -> bool:
    """True if ``text`` is only acknowledgements ("yeah, okay", "mm-hmm right").

    Every comma-free run is checked phrase by phrase, longest first, so "oh okay" and
    "okay okay" both count while "okay but wait" does not.
    """
    words = _normalise(text).replace("-", " ").split()
    if not words:
        return False
    i = 0
    while i < len(words):
        for size in (3, 2, 1):
            phrase = " ".join(words[i : i + size])
            if len(words) - i >= size and (
                phrase in _BACKCHANNELS or phrase.replace(" ", "-") in _BACKCHANNELS
            ):
                i += size
                break
        else:
            return False
    return True


_PREFIXES = frozenset(" ".join(p.split()[:i]) for p in _BACKCHANNELS for i in range(1, len(p.split())))


def judge_overlap(text: str) -> OverlapVerdict:
    """Classify the partial transcript of speech heard while the bot was talking.

    A partial that is only the start of a backchannel ("I" of "I see", "that's" of "that's
    right") says nothing yet: it counts as no words, so the next partial decides.
    """
    words = _normalise(text)
    if not words or words in _PREFIXES:
        return OverlapVerdict.NO_WORDS
    return OverlapVerdict.BACKCHANNEL if is_backchannel(text) else OverlapVerdict.TAKES_FLOOR
