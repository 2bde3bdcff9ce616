"""The opening disclosure and the recording consent question, as a call behaviour.

The shell decides the text (`callcore.disclosure.opening_disclosure`: an AI disclosure, plus a
recording notice or question). This behaviour keeps its promises:

* it is the first thing the call says, before the greeting;
* it is never cut: while it plays the conductor does not run turn-taking on the caller's audio
  (no barge-in, no turn, keys ignored) and the recogniser hears silence, so nothing the caller
  says over it can skip it;
* the record notes it (`Disclosed`) only once every mark of it is back, i.e. it was heard in full;
* with a consent question, the greeting waits for the callee's answer, and only a clear yes
  (`consent_given`) is consent; any other answer leaves the call unrecorded.

Pure and sans I/O: it returns intents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stream_server.behaviours.intents import Consent, Disclosed, Intent, Say

__all__ = ["DISCLOSURE_KIND", "Disclosure", "consent_given"]

DISCLOSURE_KIND = "disclosure"
"""The utterance kind of the disclosure (metrics, tests, and the conductor's never-cut rule)."""

# A clear yes; a refusal word anywhere wins over it ("yes, no wait, don't").
_YES = re.compile(
    r"\b(yes|yeah|yep|yup|sure|ok|okay|fine|alright|all right|of course|certainly|go ahead|"
    r"i agree|agreed|i consent|no problem|not a problem)\b"
)
_NO = re.compile(r"\b(no|nope|nah|don't|do not|not okay|not ok|rather not|prefer not|refuse|decline|stop)\b")
_NOT_A_REFUSAL = re.compile(r"\b(no problem|not a problem|no worries)\b")


def consent_given(answer: str) -> bool:
    """Whether the callee's answer to the recording question is a clear yes.

    Anything else (a no, a question, words we cannot read) is not consent.
    """
    said = " ".join(re.findall(r"[a-z']+", answer.lower()))
    refusal = _NO.search(_NOT_A_REFUSAL.sub(" ", said))
    return bool(_YES.search(said)) and refusal is None


@dataclass
class Disclosure:
    """One call's disclosure: ``text`` None = this call need not disclose."""

    text: str | None = None
    ask_consent: bool = False
    awaiting_consent: bool = False

    def opening(self, greeting: str) -> list[Intent]:
        """What the call says first: the disclosure, else the greeting (if any)."""
        if self.text:
            return [Say(self.text, DISCLOSURE_KIND)]
        return [Say(greeting, "greeting")] if greeting else []

    def heard(self, greeting: str) -> list[Intent]:
        """The disclosure's last mark is back: note it, then greet (or wait for the consent answer)."""
        if self.ask_consent:
            self.awaiting_consent = True
            return [Disclosed()]
        return [Disclosed(), *([Say(greeting, "greeting")] if greeting else [])]

    def on_caller_turn(self, text: str, greeting: str) -> list[Intent] | None:
        """The callee's first turn after the consent question is the answer; None = not that turn."""
        if not self.awaiting_consent:
            return None
        self.awaiting_consent = False
        return [Consent(consent_given(text)), *([Say(greeting, "greeting")] if greeting else [])]
