"""The phase table and the end reasons: the call's life as data, checked by one function."""

from __future__ import annotations

import pytest

from stream_server.conversation.actions import TRANSITIONS, EndReason, IllegalTransition, Phase


def test_every_phase_has_a_row_and_ended_is_final() -> None:
    assert set(TRANSITIONS) == set(Phase)
    assert TRANSITIONS[Phase.ENDED] == frozenset()
    assert all(Phase.ENDED in TRANSITIONS[p] for p in Phase if p is not Phase.ENDED)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (Phase.AWAITING_START, Phase.ACTIVE),  # never active before the token is checked
        (Phase.ENDED, Phase.ACTIVE),
        (Phase.ACTIVE, Phase.AUTHENTICATING),
        (Phase.AUTHENTICATING, Phase.ENDING),
    ],
)
def test_moves_outside_the_table_raise(source: Phase, target: Phase) -> None:
    with pytest.raises(IllegalTransition, match=f"{source.value} -> {target.value}"):
        source.to(target)


def test_allowed_moves_return_the_target() -> None:
    assert Phase.AWAITING_START.to(Phase.AUTHENTICATING) is Phase.AUTHENTICATING
    assert Phase.ENDING.to(Phase.ACTIVE) is Phase.ACTIVE  # a refused transfer goes back to talking


def test_end_reasons_are_the_stored_strings() -> None:
    assert EndReason.CALLER_HANGUP == "caller-hangup"
    assert f"{EndReason.ASSISTANT_END_CALL}" == "assistant-end-call"
    assert len({r.value for r in EndReason}) == len(EndReason)
