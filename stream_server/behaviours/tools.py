"""The tools the language model may use to act on the call itself: hang up, opt out, transfer, send digits.

Each of these ends the call with a Twilio REST update of the live call, done by the session
after the bot's last words have been heard (their marks are back), never mid-sentence:

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

Pure and sans I/O: a tool returns intents (`Conclude` names the update, `TransferTo` or
`PlayDigits`); `CallState` turns them into actions and the shell builds the TwiML with
`callcore.twiml` and makes the REST call.

Adding a tool is three small steps, all in this module:

1. its `ToolSpec` (the name and description the model reads, and a JSON-schema of its arguments);
2. a function ``ToolUse -> list[Intent] | None`` saying what a use of it asks of the call
   (``None`` refuses it, e.g. bad arguments; the refusal is logged and the call goes on);
3. one `Tool` entry in `TOOLS`, with ``offered`` when only some calls may use it.

If the tool needs something no intent says yet, add the intent to `behaviours.intents`, its
meaning to `CallState._intents`, and (for I/O) an action the shell performs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callcore.models import Persona

from stream_server.behaviours.intents import (
    CallUpdate,
    Conclude,
    Count,
    EndReason,
    Intent,
    OptOut,
    PlayDigits,
    Say,
    TransferTo,
)
from stream_server.providers.base import ToolCall, ToolSpec

__all__ = [
    "END_CALL",
    "OPT_OUT",
    "SEND_DIGITS",
    "TOOLS",
    "TRANSFER_CALL",
    "CallTools",
    "CallUpdate",
    "PlayDigits",
    "Tool",
    "ToolOptions",
    "ToolUse",
    "TransferTo",
    "plan_tool_call",
    "tools_for",
]

log = logging.getLogger("stream_server.call")

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


@dataclass(frozen=True, slots=True)
class ToolOptions:
    """The call's settings that tools read (`CallState` builds it from its `CallConfig`)."""

    transfer_line: str  # said before a transfer when the model said nothing itself
    transfer_failed: str  # said when the REST update of a transfer (or digits) failed
    opt_out_line: str = ""  # confirms an opt-out the model did not confirm itself ("" = the goodbye)
    send_digits: bool = False  # offer `send_digits` (it ends the stream; off by default)


@dataclass(frozen=True, slots=True)
class ToolUse:
    """One use of a tool by the model, with what a tool may know of the call.

    ``spoke``: the reply that used the tool already said something (its own goodbye or "let me
    transfer you"), so nothing more is added before acting.
    """

    call: ToolCall
    persona: Persona
    options: ToolOptions
    spoke: bool


def _always(persona: Persona, options: ToolOptions) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool the model may use: its spec, what a use asks of the call, and on which calls it is offered."""

    spec: ToolSpec
    use: Callable[[ToolUse], list[Intent] | None]
    offered: Callable[[Persona, ToolOptions], bool] = _always


def _end_call(use: ToolUse) -> list[Intent]:
    return [Conclude(EndReason.ASSISTANT_END_CALL, say=None if use.spoke else use.persona.goodbye)]


def _opt_out(use: ToolUse) -> list[Intent]:
    say = None if use.spoke else (use.options.opt_out_line or use.persona.goodbye)
    return [OptOut(), Conclude(EndReason.OPTED_OUT, say=say)]


def _transfer_call(use: ToolUse) -> list[Intent] | None:
    number = use.persona.transfer_number
    if not number:
        return None
    say = None if use.spoke else (use.persona.transfer_message or use.options.transfer_line)
    return [Conclude(EndReason.TRANSFERRED, say=say, update=TransferTo(number))]


def _send_digits(use: ToolUse) -> list[Intent] | None:
    digits = _digits(use.call.arguments)
    if digits is None:
        return None
    return [Conclude(EndReason.SENT_DIGITS, update=PlayDigits(digits))]


TOOLS: tuple[Tool, ...] = (
    Tool(END_CALL, _end_call),
    Tool(OPT_OUT, _opt_out),
    Tool(TRANSFER_CALL, _transfer_call, offered=lambda persona, _: bool(persona.transfer_number)),
    Tool(SEND_DIGITS, _send_digits, offered=lambda _, options: options.send_digits),
)
"""Every tool, in the order they are offered to the model."""


def tools_for(persona: Persona, options: ToolOptions) -> tuple[ToolSpec, ...]:
    """The tools to offer on this call (transfer only when the persona has a number to dial)."""
    return tuple(tool.spec for tool in TOOLS if tool.offered(persona, options))


def plan_tool_call(
    call: ToolCall, persona: Persona, options: ToolOptions, *, spoke: bool
) -> list[Intent] | None:
    """What a tool call asks of this call; None = refused (unknown, not offered, bad arguments)."""
    for tool in TOOLS:
        if tool.spec.name == call.name and tool.offered(persona, options):
            return tool.use(ToolUse(call, persona, options, spoke))
    return None


class CallTools:
    """One call's tools: what the model is offered, and what its tool calls ask of the call."""

    __slots__ = ("_options", "_persona", "offered")

    def __init__(self, persona: Persona, options: ToolOptions) -> None:
        self._persona = persona
        self._options = options
        self.offered = tools_for(persona, options)

    def on_reply_finished(self, calls: Sequence[ToolCall], *, spoke: bool) -> list[Intent]:
        """The reply ended having asked for ``calls``: the first one the call can honour is acted on."""
        for call in calls:
            intents = plan_tool_call(call, self._persona, self._options, spoke=spoke)
            if intents is None:
                log.warning("refused a tool call the call cannot honour: %s", call.name)
                continue
            log.info("tool call: %s", call.name)
            return [Count(f"Tool_{call.name}"), *intents]
        return []

    def update_failed(self) -> list[Intent]:
        """The REST update (transfer, digits) failed: the call goes on, and the caller is told."""
        return [Say(self._options.transfer_failed, "reply")]


def _digits(arguments: Mapping[str, Any]) -> str | None:
    value = arguments.get("digits")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.replace(" ", "").replace("-", "")
    # `<Play digits>` documents only `w` (half a second); `W` (one second) is a `sendDigits` thing.
    return value.replace("W", "ww") if _DIGITS.match(value) else None
