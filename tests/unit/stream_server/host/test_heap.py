"""Start-up heap frozen out of the collector's full collections; the storage client loaded before."""

from __future__ import annotations

import gc
import threading
import weakref

from callcore.repository import CallRepository
from callcore.table import ClientTable

from stream_server.__main__ import _load_storage_client
from stream_server.host.heap import (
    YOUNG_GENERATION_THRESHOLD,
    freeze_startup_heap,
    space_out_young_collections,
)


class _Marker:
    """A container the collector tracks (a plain class instance with a __dict__)."""


def _tracked(obj: object) -> bool:
    return any(candidate is obj for candidate in gc.get_objects())


def test_objects_alive_at_start_up_leave_the_collected_heap_and_later_ones_stay_in_it() -> None:
    before = _Marker()
    assert _tracked(before)
    try:
        frozen = freeze_startup_heap()
        after = _Marker()
        assert frozen == gc.get_freeze_count() > 0
        assert not _tracked(before)  # in the permanent generation: no collection walks it
        assert _tracked(after)  # what calls allocate later is still collected
    finally:
        gc.unfreeze()  # the test process carries on as before


def test_start_up_garbage_is_collected_before_the_freeze_not_kept_forever() -> None:
    was_enabled = gc.isenabled()
    gc.disable()  # only the freeze's own collection may free the cycle
    try:
        cycle = _Marker()
        cycle.self = cycle  # type: ignore[attr-defined]
        gone = weakref.ref(cycle)
        del cycle  # unreachable, freed only by a collection
        freeze_startup_heap()
        assert gone() is None
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def test_young_collections_are_spaced_out_and_the_older_generations_keep_their_thresholds() -> None:
    before = gc.get_threshold()
    try:
        now = space_out_young_collections()
        assert now == gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, before[1], before[2])
        assert before[0] < YOUNG_GENERATION_THRESHOLD
    finally:
        gc.set_threshold(*before)


async def test_the_storage_client_is_built_at_start_up_not_on_the_first_call() -> None:
    built: list[int] = []

    def factory() -> object:
        built.append(threading.get_ident())
        return object()

    table = ClientTable("calls", factory)
    await _load_storage_client(CallRepository(table))
    assert len(built) == 1 and built[0] != threading.get_ident()  # in a worker, off the event loop
    _ = table.client
    assert len(built) == 1  # built once, reused by the calls


async def test_a_repository_over_a_boto3_resource_needs_no_loading() -> None:
    await _load_storage_client(CallRepository(object()))  # tests and the local stack pass a resource
