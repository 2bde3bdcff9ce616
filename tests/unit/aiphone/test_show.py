"""``aiphone show``: what the record says, in lines a person reads (no API needed)."""

from __future__ import annotations

import io

from aiphone.cli import _show
from aiphone.client import CallDetail


def test_show_names_a_transfer_that_did_not_happen() -> None:
    refusal = {
        "code": "21220",
        "message": "Call is not in-progress. Cannot redirect.",
        "source": "update",
        "update": "transfer",
        "at": "2026-11-30T12:00:00Z",
    }
    detail = CallDetail.from_json(
        {
            "call_id": "c1",
            "status": "completed",
            "to_number": "+14155550123",
            "created_at": "2026-11-30T11:59:00Z",
            "update_error": refusal,
            "status_history": [],
            "turns": [],
        }
    )
    out = io.StringIO()
    _show(detail, out)
    shown = "update_error   transfer not done: 21220 Call is not in-progress. Cannot redirect."
    assert shown in out.getvalue()
    assert "  error " not in out.getvalue()  # the call itself did not fail
