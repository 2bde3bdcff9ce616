"""AiPhoneClient.follow: what `aiphone tail` prints, in the order it happened, to the end."""

from __future__ import annotations

from typing import Any

from aiphone.client import AiPhoneClient, StatusChange, Turn


class _Polled(AiPhoneClient):
    """A client whose GET /calls/{id} answers come from a list, one per poll."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        super().__init__("http://127.0.0.1:9", "key")
        self.answers = answers
        self.polls = 0

    def get_call_json(self, call_id: str) -> dict[str, Any]:
        answer = self.answers[min(self.polls, len(self.answers) - 1)]
        self.polls += 1
        return answer


def _event(status: str, at: str) -> dict[str, Any]:
    return {"kind": "call", "at": f"2026-11-30T22:00:{at}Z", "status": status}


def _turn(index: int, text: str, started: float) -> dict[str, Any]:
    return {"index": index, "role": "assistant", "text": text, "started_at": 1796076000.0 + started}


def _shown(items: list[Turn | StatusChange]) -> list[str]:
    return [item.text if isinstance(item, Turn) else f"[{item.status}]" for item in items]


def test_the_goodbye_stored_after_the_end_is_shown_before_it() -> None:
    live = {"call_id": "c1", "status": "in-progress", "status_history": [_event("in-progress", "01.000")]}
    live["turns"] = [_turn(0, "Hello.", 1.5)]
    # Twilio's end arrives first; the bot's goodbye (said at 20 s) is stored a moment later.
    ended = {**live, "status": "completed"}
    ended["status_history"] = [*live["status_history"], _event("completed", "22.000")]
    stored = {**ended, "turns": [*live["turns"], _turn(1, "Goodbye.", 20.0)]}
    client = _Polled([live, ended, stored])
    shown = _shown(list(client.follow("c1", sleep=lambda _: None)))
    assert shown == ["[in-progress]", "Hello.", "Goodbye.", "[completed]"]
    assert client.polls == 3  # the end seen, one more read, then done


def test_items_without_a_time_keep_their_place() -> None:
    record = {
        "call_id": "c1",
        "status": "completed",
        "status_history": [_event("in-progress", "01.000"), {"kind": "call", "status": "completed"}],
        "turns": [_turn(0, "Hello.", 1.5), {"index": 1, "role": "caller", "text": "Hi."}],
    }
    shown = _shown(list(_Polled([record]).follow("c1", sleep=lambda _: None)))
    assert shown == ["[in-progress]", "[completed]", "Hello.", "Hi."]
