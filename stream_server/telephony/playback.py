"""What the caller actually heard: outbound audio accounting from Twilio's marks.

Twilio buffers every ``media`` message we send and plays them in order; we learn how far
playback got only when it echoes the ``mark``s we interleave. After a ``clear`` (barge-in) it
echoes every pending mark too, but those mean "flushed", not "played". This module keeps that
ledger so the session can (a) know whether the bot is still audible, (b) wait for the goodbye to
finish before hanging up, and (c) cut the assistant's turn in the conversation history down to
the words that reached the caller's ear, which keeps the LLM from believing it said things the
caller never heard.

Pure bookkeeping: no clock, no socket. One mark per outbound chunk; chunks belong to sentences.
A chunk carries at most `MAX_MEDIA_BYTES` of audio, so a mark comes back at least every 200 ms of
playback whatever sizes the TTS stream arrives in: that is the resolution of `heard_text`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = ["MAX_MEDIA_BYTES", "ChunkState", "MarkOutcome", "PlaybackLedger", "Utterance", "media_pieces"]

MAX_MEDIA_BYTES = 1600
"""200 ms of mu-law: the most audio one media message (and so one mark) carries."""


def media_pieces(audio: bytes, limit: int = MAX_MEDIA_BYTES) -> list[bytes]:
    """``audio`` in pieces of at most ``limit`` bytes, of equal length give or take a byte.

    Equal pieces rather than full ones and a remainder: 1700 bytes go as 850 + 850, not 1600 + 100,
    so no mark stands for a sliver of audio.
    """
    if len(audio) <= limit:
        return [audio]
    count = -(-len(audio) // limit)
    size, longer = divmod(len(audio), count)  # the first `longer` pieces take one byte more
    pieces, offset = [], 0
    for index in range(count):
        end = offset + size + (index < longer)
        pieces.append(audio[offset:end])
        offset = end
    return pieces


class ChunkState(Enum):
    QUEUED = "queued"
    PLAYED = "played"
    FLUSHED = "flushed"


class MarkOutcome(Enum):
    PLAYED = "played"
    FLUSHED = "flushed"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class _Chunk:
    name: str
    sentence: int
    nbytes: int
    state: ChunkState = ChunkState.QUEUED


@dataclass(slots=True)
class Utterance:
    """One assistant turn's audio: sentences, and the chunks (each with its mark) that carry them."""

    utterance_id: int
    sentences: list[str] = field(default_factory=list)
    chunks: list[_Chunk] = field(default_factory=list)
    # Kept by the ledger, so the per-frame questions cost nothing: chunks still QUEUED, and how
    # many leading chunks are settled (played or flushed) for good.
    queued: int = 0
    settled: int = 0

    def add_sentence(self, text: str) -> int:
        self.sentences.append(text)
        return len(self.sentences) - 1

    @property
    def outstanding(self) -> int:
        return self.queued

    @property
    def interrupted(self) -> bool:
        return any(c.state is ChunkState.FLUSHED for c in self.chunks)

    def played_bytes(self) -> int:
        return sum(c.nbytes for c in self.chunks if c.state is ChunkState.PLAYED)

    def heard_text(self) -> str:
        """The text the caller heard: whole sentences played, plus the played share of a cut one.

        Within a sentence the cut point is estimated by the share of its audio that played,
        rounded down to whole words, and marked with an ellipsis so the model knows it was cut.
        """
        heard: list[str] = []
        for index, text in enumerate(self.sentences):
            chunks = [c for c in self.chunks if c.sentence == index]
            total = sum(c.nbytes for c in chunks)
            played = sum(c.nbytes for c in chunks if c.state is ChunkState.PLAYED)
            if total == 0 or played == 0:
                break
            if played >= total and all(c.state is ChunkState.PLAYED for c in chunks):
                heard.append(text)
                continue
            words = text.split()
            keep = int(len(words) * played / total)
            if keep > 0:
                heard.append(" ".join(words[:keep]) + "...")
            break
        return " ".join(heard)

    def unheard_text(self) -> str:
        """The sentences from the first one not wholly played: what a resume must say again."""
        for index in range(len(self.sentences)):
            chunks = [c for c in self.chunks if c.sentence == index]
            if not chunks or any(c.state is not ChunkState.PLAYED for c in chunks):
                return " ".join(self.sentences[index:])
        return ""


class PlaybackLedger:
    """Every chunk sent to Twilio for one call, and what its mark said about it."""

    def __init__(self, *, prefix: str = "u") -> None:
        self._prefix = prefix
        self._next_utterance = 0
        self._by_name: dict[str, tuple[Utterance, _Chunk]] = {}
        self._utterances: list[Utterance] = []
        self._queued = 0

    def start_utterance(self) -> Utterance:
        utterance = Utterance(self._next_utterance)
        self._next_utterance += 1
        self._utterances.append(utterance)
        # Fully accounted utterances can be forgotten; keep memory flat on long calls.
        self._utterances = [u for u in self._utterances if u.outstanding or u is utterance]
        return utterance

    def add_chunk(self, utterance: Utterance, sentence: int, nbytes: int) -> str:
        """Record one chunk about to be sent; returns the mark name to send right after it."""
        name = f"{self._prefix}{utterance.utterance_id}.{sentence}.{len(utterance.chunks)}"
        chunk = _Chunk(name, sentence, nbytes)
        utterance.chunks.append(chunk)
        utterance.queued += 1
        self._queued += 1
        self._by_name[name] = (utterance, chunk)
        return name

    def on_mark(self, name: str) -> MarkOutcome:
        """Account for an echoed mark. Marks we never sent (or already settled) are UNKNOWN."""
        entry = self._by_name.pop(name, None)
        if entry is None:
            return MarkOutcome.UNKNOWN
        utterance, chunk = entry
        if chunk.state is ChunkState.FLUSHED:
            return MarkOutcome.FLUSHED
        # Twilio plays in order: an echoed mark means every earlier chunk has played too.
        chunks = utterance.chunks
        index = utterance.settled
        while index < len(chunks):
            earlier = chunks[index]
            index += 1
            if earlier.state is ChunkState.QUEUED:
                earlier.state = ChunkState.PLAYED
                utterance.queued -= 1
                self._queued -= 1
            if earlier is chunk:
                utterance.settled = index
                break
        return MarkOutcome.PLAYED

    def clear(self) -> int:
        """A ``clear`` was sent: every queued chunk is flushed. Returns how many."""
        flushed = 0
        for utterance, chunk in self._by_name.values():
            if chunk.state is ChunkState.QUEUED:
                chunk.state = ChunkState.FLUSHED
                utterance.queued -= 1
                flushed += 1
        self._queued -= flushed
        return flushed

    @property
    def outstanding(self) -> int:
        """Chunks sent whose mark has not come back: the bot is audible while this is > 0."""
        return self._queued
