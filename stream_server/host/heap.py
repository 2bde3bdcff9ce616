"""The host's heap and Python's cyclic garbage collector: keep full collections short.

A full (oldest-generation) collection walks every object the collector tracks, holding the GIL, so
the event loop stops for as long as it takes. After start-up the stream host carries ~130,000 such
objects that live as long as the process (botocore's service models, the SDKs, the persona cache);
a full collection under 50-100 calls walked them all and stopped the loop for 120-190 ms, longer than
five inbound frames, so callers heard gaps. ``gc.freeze()`` moves everything alive at that moment
into a permanent generation that collections skip: full collections then walk only what the calls
themselves allocated. Nothing frozen is ever freed, so it is done once, after a collection, when
start-up is over.

The youngest generation is also collected ten times less often than Python's default (every 7,000
net new containers instead of 700). With 100 calls in flight, every LLM and TTS stream holds request,
response and parser objects for a second or so; at 700 a young collection came every few milliseconds
and promoted those in-flight objects to the older generations, which then filled and triggered full
collections: 12-18 CPU-ms a second of collecting, one-second spans with 86 ms of it, pauses of 44 ms. At
7,000 most of them are freed by their reference counts before any collection sees them: 4-6 ms a second,
the longest pause 18-23 ms (`bench/profile_host.py --calls 100 --host-loop-lag`, docs/performance.md).
A young collection walks at most those 7,000 objects.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_GENERATION_THRESHOLD", "freeze_startup_heap", "space_out_young_collections"]

YOUNG_GENERATION_THRESHOLD = 7_000
"""Net new tracked containers between two young collections (Python's default: 700)."""


def freeze_startup_heap() -> int:
    """Collect start-up garbage, then exempt every surviving object from later collections.

    Returns how many objects are now frozen (``gc.get_freeze_count()``).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def space_out_young_collections() -> tuple[int, int, int]:
    """Collect the youngest generation every YOUNG_GENERATION_THRESHOLD new containers; the older
    generations' thresholds stay Python's. Returns the thresholds now in force."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
    return gc.get_threshold()
