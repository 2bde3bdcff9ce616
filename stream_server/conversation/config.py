"""A call's settings as its conductor reads them; the session builds one from `StreamSettings`."""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_server.behaviours.call_behaviours import BehaviourSettings
from stream_server.behaviours.filler import FillerSettings
from stream_server.behaviours.tools import ToolOptions
from stream_server.behaviours.voicemail import VoicemailSettings
from stream_server.conversation import phrases
from stream_server.turn_taking.detector import TurnSettings

__all__ = ["CallConfig"]


@dataclass(frozen=True, slots=True)
class CallConfig:
    turn: TurnSettings = field(default_factory=TurnSettings)
    drain_goodbye: str = phrases.DRAIN_GOODBYE
    # Call behaviours (docs/call-behaviours.md).
    duration_warning: str = phrases.DURATION_WARNING
    duration_warning_before_s: float = 60.0
    transfer_line: str = phrases.TRANSFER_LINE
    transfer_failed: str = phrases.TRANSFER_FAILED
    opt_out_line: str = phrases.OPT_OUT_CONFIRMATION
    reask: str = phrases.REASK
    send_digits_tool: bool = False  # see stream_server.behaviours.tools: it ends the stream
    dtmf_inter_digit_s: float = 1.5  # keys pressed closer than this form one entry
    voicemail: VoicemailSettings = field(default_factory=VoicemailSettings)
    filler: FillerSettings = field(default_factory=FillerSettings)

    def behaviours(self) -> BehaviourSettings:
        """The part the call's behaviours read."""
        return BehaviourSettings(
            tools=ToolOptions(
                self.transfer_line, self.transfer_failed, self.opt_out_line, self.send_digits_tool
            ),
            duration_warning=self.duration_warning,
            duration_warning_before_s=self.duration_warning_before_s,
            drain_goodbye=self.drain_goodbye,
            dtmf_inter_digit_s=self.dtmf_inter_digit_s,
            voicemail=self.voicemail,
            filler=self.filler,
        )
