"""One call's behaviours, built for its persona: clock, keypad, tools, answering machine, fillers,
and the opening disclosure.

`CallState` holds one `CallBehaviours` and asks each behaviour through it. Every behaviour is a
small pure object that returns intents (`behaviours.intents`); none of them touches the call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from callcore.models import Persona

from stream_server.behaviours.disclosure import Disclosure
from stream_server.behaviours.filler import Fillers, FillerSettings
from stream_server.behaviours.idle import CallClock
from stream_server.behaviours.intents import Intent
from stream_server.behaviours.keypad import Keypad
from stream_server.behaviours.tools import CallTools, ToolOptions
from stream_server.behaviours.voicemail import AnsweringMachine, VoicemailSettings
from stream_server.providers.base import ToolSpec

__all__ = ["BehaviourSettings", "CallBehaviours"]

log = logging.getLogger("stream_server.call")


@dataclass(frozen=True, slots=True)
class BehaviourSettings:
    """What the behaviours read of the call's settings (`CallState` builds it from `CallConfig`)."""

    tools: ToolOptions
    duration_warning: str
    duration_warning_before_s: float
    drain_goodbye: str
    dtmf_inter_digit_s: float
    voicemail: VoicemailSettings
    filler: FillerSettings


class CallBehaviours:
    """The behaviours of one call. Before `start` (the call answered) only the clock and keypad exist."""

    def __init__(self, settings: BehaviourSettings) -> None:
        self.settings = settings
        self.clock = CallClock(
            warning=settings.duration_warning,
            warn_before_s=settings.duration_warning_before_s,
            drain_goodbye=settings.drain_goodbye,
        )
        self.keypad = Keypad(inter_digit_s=settings.dtmf_inter_digit_s)
        self.fillers = Fillers(settings.filler, ())
        self.tools: CallTools | None = None
        self.voicemail: AnsweringMachine | None = None
        self.disclosure = Disclosure()

    def start(self, persona: Persona, now: float, *, disclosure: str | None, ask_consent: bool) -> None:
        """The call was answered at ``now``: the behaviours ``persona`` asks for, and the disclosure
        to make first (None = none; ``ask_consent``: it asks to record)."""
        settings = self.settings
        self.disclosure = Disclosure(disclosure, ask_consent=bool(disclosure) and ask_consent)
        self.clock.start(now)
        self.fillers = Fillers(settings.filler, persona.filler_phrases)
        self.tools = CallTools(persona, settings.tools)
        self.keypad = Keypad(inter_digit_s=settings.dtmf_inter_digit_s, sensitive=persona.dtmf_sensitive)
        if persona.machine_detection:
            message = persona.voicemail_message
            self.voicemail = AnsweringMachine(settings.voicemail, started_at=now, message=message)

    def press(self, digit: str, now: float) -> list[Intent]:
        """The caller pressed a key (never logged: it may be part of a PIN)."""
        log.info("caller pressed a key")
        self.clock.idle.caller_active(now)
        return self.keypad.press(digit, now)

    def due(self, now: float, *, elapsed_s: float, persona: Persona) -> list[Intent]:
        """What the clock brings first, ``elapsed_s`` into the call: the drain deadline or the maximum
        duration (and its warning), else a keypad entry complete by its pause."""
        closing = self.clock.deadline(now, elapsed_s=elapsed_s, persona=persona)
        return [closing] if closing is not None else self.keypad.due(now)

    @property
    def offered(self) -> tuple[ToolSpec, ...]:
        """The tools the model may use on this call (none before the persona is known)."""
        return self.tools.offered if self.tools is not None else ()

    @property
    def machine_undecided(self) -> bool:
        """Answering-machine detection is on and has not yet said human or machine."""
        return self.voicemail is not None and self.voicemail.undecided

    @property
    def answering_machine(self) -> bool:
        return self.voicemail is not None and self.voicemail.machine
