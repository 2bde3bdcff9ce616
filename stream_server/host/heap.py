"""The host's heap and Python's cyclic garbage collector: keep full collections short.

A full (oldest-generation) collection walks every object the collector tracks, holding the GIL, so
the event loop stops for as long as it takes. After start-up the stream host carries ~130,000 such
objects that live as long as the process (botocore's service models, the SDKs, the persona cache);
a full collection under 50-100 calls walked them all and stopped the loop for 120-190 ms, longer than
five inbound frames, so callers heard gaps. ``gc.freeze()`` moves everything alive at that moment
into a permanent generation that collections skip: full collections then walk only what the calls
themselves allocated. Nothing frozen is ever freed, so it is done once, after a collection, when
start-up is over.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> int:
    """Collect start-up garbage, then exempt every surviving object from later collections.

    Returns how many objects are now frozen (``gc.get_freeze_count()``).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
