"""The phone's loudspeaker: audio the server sends is queued and played at real time.

Sans-I/O: every method takes `now` (seconds, any monotonic origin) and returns what happened up
to then, so tests drive it with a fake clock. Twilio's rules modelled here:
- `media` payloads are buffered and played in order, 8 bytes of mu-law per millisecond;
- a `mark` is echoed only when all audio queued before it has played (at once if none is queued);
- `clear` drops everything buffered and echoes every pending mark immediately.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["BYTES_PER_SECOND", "PlaybackBuffer", "PlaybackStep"]

BYTES_PER_SECOND = 8000


@dataclass
class PlaybackStep:
    """What the loudspeaker did between two instants.

    Attributes:
        played: (start time, mu-law bytes) for each stretch of audio that played.
        marks: names of marks now due for echo, in order.
    """

    played: list[tuple[float, bytes]] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)

    def extend(self, other: PlaybackStep) -> PlaybackStep:
        self.played.extend(other.played)
        self.marks.extend(other.marks)
        return self


@dataclass(frozen=True)
class _Mark:
    name: str


class PlaybackBuffer:
    """Queued outbound audio and marks, consumed by the wall clock passed in."""

    def __init__(self, now: float) -> None:
        self._items: deque[bytes | _Mark] = deque()
        self._position = now  # the instant up to which playback has been computed

    def advance(self, now: float) -> PlaybackStep:
        """Play whatever fits between the last call and `now`."""
        step = PlaybackStep()
        t = self._position
        while self._items:
            head = self._items[0]
            if isinstance(head, _Mark):
                step.marks.append(head.name)
                self._items.popleft()
                continue
            budget = int((now - t) * BYTES_PER_SECOND + 1e-9)
            if budget <= 0:
                break
            chunk = head[:budget]
            step.played.append((t, chunk))
            t += len(chunk) / BYTES_PER_SECOND
            if len(chunk) < len(head):
                self._items[0] = head[len(chunk) :]
                break
            self._items.popleft()
        # With nothing queued the speaker is idle: new audio starts when it arrives, not earlier.
        self._position = t if self._items else max(t, now)
        return step

    def push_audio(self, ulaw: bytes, now: float) -> PlaybackStep:
        step = self.advance(now)
        if ulaw:
            self._items.append(ulaw)
        return step

    def push_mark(self, name: str, now: float) -> PlaybackStep:
        step = self.advance(now)
        self._items.append(_Mark(name))
        return step.extend(self.advance(now))

    def clear(self, now: float) -> PlaybackStep:
        """Flush the queue; pending marks come back at once (they mean "flushed", not "played")."""
        step = self.advance(now)
        step.marks.extend(item.name for item in self._items if isinstance(item, _Mark))
        self._items.clear()
        self._position = now
        return step

    def speaking(self) -> bool:
        """True while audio is queued (as of the last call)."""
        return any(isinstance(item, bytes) for item in self._items)

    def buffered_seconds(self) -> float:
        return sum(len(i) for i in self._items if isinstance(i, bytes)) / BYTES_PER_SECOND
