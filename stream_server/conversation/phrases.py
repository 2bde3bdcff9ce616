"""The bot's fixed lines: everything it says that neither a persona nor the model wrote.

One place to read, review or translate them. Personas carry their own greeting, goodbye, idle prompt,
voicemail message and fillers; these are the host's defaults and its lines for situations no persona
describes (a provider failure, a drain, a transfer that did not go through).
"""

from __future__ import annotations

__all__ = [
    "APOLOGY",
    "DEFAULT_GREETING",
    "DEFAULT_PROMPT",
    "DRAIN_GOODBYE",
    "DURATION_WARNING",
    "OPT_OUT_CONFIRMATION",
    "REASK",
    "TRANSFER_FAILED",
    "TRANSFER_LINE",
]

# A provider failed mid-reply: pre-rendered once per process and played instead.
APOLOGY = "Sorry, I had a problem there. Could you say that again?"
# The process is draining and the call has run out of time to finish on its own.
DRAIN_GOODBYE = "I'm sorry, I have to end the call now. Goodbye."
# A little before the persona's maximum duration.
DURATION_WARNING = "Just so you know, we have about a minute left on this call."
# The model asked to transfer without saying anything itself.
TRANSFER_LINE = "Please hold while I transfer you."
# The model used the opt_out tool without confirming in words itself.
OPT_OUT_CONFIRMATION = "Understood. We won't call you again. Goodbye."
# Twilio refused the transfer's call update; the conversation goes on.
TRANSFER_FAILED = "I'm sorry, I couldn't transfer you just now. Can I help in another way?"
# The recogniser never answered a commit and no partial caught the caller's words.
REASK = "Sorry, I didn't catch that. Could you say it again?"
# The persona of a call whose own persona could not be loaded.
DEFAULT_PROMPT = "You are a helpful, concise phone assistant. Answer in one or two short sentences."
DEFAULT_GREETING = "Hello! How can I help you today?"
