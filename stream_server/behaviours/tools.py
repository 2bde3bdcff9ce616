"""The tools the language model may use to act on the call itself: hang up, opt out, transfer, send digits.

Each tool ends with a Twilio REST update of the live call, done by the session after the
bot's last words have been heard (their marks are back), never mid-sentence:

* ``end_call``: status=completed, the same REST hang-up as a caller's goodbye.
* ``opt_out``: the callee asked not to be called again. Before the hang-up the shell puts the
  number on the API key's do-not-call list (the same entries ``PUT /do-not-call`` writes, so
  every later dial, campaign or not, is refused) and marks the call record ``opted_out``, which
  ends a campaign recipient for good. Offered on every call: it is the callee's right, not a
  persona's option.
* ``transfer_call``: new TwiML ``<Dial>`` to the persona's ``transfer_number``. Updating a call
  replaces its TwiML, so Twilio closes our Media Stream and bridges the caller to the human;
  our part of the call ends there.
* ``send_digits``: DTMF towards the far end (an IVR). Media Streams is receive-and-play audio
  only: it has no verb to send DTMF, and audio tones we synthesise are not reliably heard as
  DTMF after the phone network's codecs. The only reliable way is TwiML ``<Play digits>``
  through a call update, which, like any update, ends the stream. Coming back would need a
  new ``<Connect><Stream>`` with a fresh stream token and a new session that restores the
  conversation; that is not built, so after the digits the call ends. The tool is therefore
  off by default (`CallConfig.send_digits_tool`) and meant for "dial an extension and leave"
  personas. See docs/call-behaviours.md.

Pure and sans I/O: a plan names the update (`TransferTo`, `PlayDigits`); the shell builds its
TwiML with `callcore.twiml` and makes the REST call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callcore.models import Persona

from stream_server.behaviours.intents import EndReason
from stream_server.providers.base import ToolCall, ToolSpec

__all__ = [
    "END_CALL",
    "OPT_OUT",
    "SEND_DIGITS",
    "TRANSFER_CALL",
    "CallUpdate",
    "PlayDigits",
    "ToolPlan",
    "TransferTo",
    "plan_tool_call",
    "tools_for",
]

END_CALL = ToolSpec(
    "end_call",
    "Hang up the phone call. Use it when the conversation is over (the caller said goodbye or "
    "has nothing more). Say your goodbye in the same reply, before calling it.",
)
OPT_OUT = ToolSpec(
    "opt_out",
    "The person asks not to be called again (take me off your list, stop calling me, do not call "
    "this number). In the same reply, confirm politely that they will not be called again and say "
    "goodbye, then call this tool: it records the request and ends the call.",
)
TRANSFER_CALL = ToolSpec(
    "transfer_call",
    "Transfer the caller to a human colleague. Use it when the caller asks for a person or "
    "when you cannot help. Tell the caller you are transferring them, in the same reply.",
    {
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "Why, in a few words."}},
    },
)
SEND_DIGITS = ToolSpec(
    "send_digits",
    "Press keys on the phone keypad (for an automated menu). This ends your part of the call.",
    {
        "type": "object",
        "properties": {"digits": {"type": "string", "description": "Digits 0-9, * and #; w = pause."}},
        "required": ["digits"],
    },
)
_DIGITS = re.compile(r"^[0-9*#wW]{1,32}$")


def tools_for(persona: Persona, *, send_digits: bool = False) -> tuple[ToolSpec, ...]:
    """The tools to offer on this call: transfer only when the persona has a number to dial."""
    tools = [END_CALL, OPT_OUT]
    if persona.transfer_number:
        tools.append(TRANSFER_CALL)
    if send_digits:
        tools.append(SEND_DIGITS)
    return tuple(tools)


@dataclass(frozen=True, slots=True)
class TransferTo:
    """Bridge the caller to a human at ``number`` (the shell builds the ``<Dial>`` TwiML)."""

    number: str


@dataclass(frozen=True, slots=True)
class PlayDigits:
    """Press ``digits`` towards the far end (the shell builds the ``<Play digits>`` TwiML)."""

    digits: str


CallUpdate = TransferTo | PlayDigits
"""A REST update of the live call, made by the shell once the bot's last words were heard."""


@dataclass(frozen=True, slots=True)
class ToolPlan:
    """What the call does for a tool call.

    Attributes:
        say: a line to speak first when the model said nothing itself (None = say nothing).
        update: the REST update to make once the line has played; None = plain hang-up.
        reason: the call's end reason.
        opt_out: list the callee's number as do-not-call and mark the record before hanging up.
    """

    say: str | None
    update: CallUpdate | None
    reason: EndReason
    opt_out: bool = False


def plan_tool_call(
    call: ToolCall,
    persona: Persona,
    *,
    spoke: bool,
    transfer_line: str,
    opt_out_line: str = "",
    send_digits: bool = False,
) -> ToolPlan | None:
    """Decide what a tool call means for this call; None = refused (unknown, not offered, bad args).

    ``spoke``: the model already said something in the same reply (its own goodbye or "let me
    transfer you"), so nothing more is added before acting; otherwise ``opt_out_line`` (or, when
    empty, the persona's goodbye) confirms an opt-out.
    """
    if call.name == END_CALL.name:
        return ToolPlan(None if spoke else persona.goodbye, None, EndReason.ASSISTANT_END_CALL)
    if call.name == OPT_OUT.name:
        line = None if spoke else (opt_out_line or persona.goodbye)
        return ToolPlan(line, None, EndReason.OPTED_OUT, opt_out=True)
    if call.name == TRANSFER_CALL.name and persona.transfer_number:
        update = TransferTo(persona.transfer_number)
        return ToolPlan(None if spoke else transfer_line, update, EndReason.TRANSFERRED)
    if call.name == SEND_DIGITS.name and send_digits:
        digits = _digits(call.arguments)
        if digits is None:
            return None
        return ToolPlan(None, PlayDigits(digits), EndReason.SENT_DIGITS)
    return None


def _digits(arguments: Mapping[str, Any]) -> str | None:
    value = arguments.get("digits")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.replace(" ", "").replace("-", "")
    # `<Play digits>` documents only `w` (half a second); `W` (one second) is a `sendDigits` thing.
    return value.replace("W", "ww") if _DIGITS.match(value) else None
