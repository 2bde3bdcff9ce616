"""A Twilio emulator for one machine: the Calls REST API, call progress webhooks, strict TwiML and
Media Streams, with a scripted caller on the phone. Start it with `TwilioEmulator` (in-process) or
`python -m local.twilio_emulator` (standalone)."""

from local.twilio_emulator.caller import CallerScript, Utterance
from local.twilio_emulator.emulator import EmulatorSettings, TwilioEmulator
from local.twilio_emulator.errors import TwilioError

__all__ = ["CallerScript", "EmulatorSettings", "TwilioEmulator", "TwilioError", "Utterance"]
