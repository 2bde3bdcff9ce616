"""A scripted, rule-based stand-in for an LLM, so the offline demo holds a real conversation.

It answers from the persona's system prompt and the caller's last words with a few plain rules:
greet, say goodbye when the caller does, admit it is an offline scripted engine when asked what
it is, and otherwise answer with the prompt sentence that shares the most words with the
question. The reply is streamed word by word, like a real model, so the pipeline's sentence
splitting and barge-in paths run exactly as they do with Cerebras. It never pretends to be AI.

It also uses the call tools it is offered, like a real model would: ``end_call`` after its
goodbye, ``transfer_call`` when the caller asks for a person, ``opt_out`` when the caller asks not
to be called again, so the offline demo exercises them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence

from stream_server.providers.base import ChatMessage, ToolCall, ToolSpec, text_deltas

__all__ = ["OPT_OUT_REPLY", "TRANSFER_REPLY", "ScriptedLanguageModel", "scripted_reply", "scripted_tool"]

_WORD = re.compile(r"[a-z0-9']+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_GOODBYE = {"bye", "goodbye", "good-bye", "farewell", "hang", "that's all", "that is all", "nothing else"}
_GREETING = {"hello", "hi", "hey", "morning", "afternoon", "evening"}
_IDENTITY = (
    "are you a robot",
    "are you real",
    "are you human",
    "are you a person",
    "are you an ai",
    "are you a bot",
    "what are you",
    "who are you",
    "are you a machine",
    "offline",
)
# Sentences that instruct the model rather than state facts are never read out.
_INSTRUCTION_START = {
    "you",
    "be",
    "keep",
    "always",
    "never",
    "do",
    "don't",
    "answer",
    "ask",
    "speak",
    "use",
    "say",
    "respond",
    "reply",
    "if",
    "when",
    "avoid",
    "only",
}
_STOPWORDS = {
    "a", "an", "the", "is", "are", "am", "i", "you", "we", "to", "of", "and", "or", "in", "on", "at",
    "for", "it", "do", "does", "can", "could", "would", "will", "what", "when", "where", "how", "my",
    "your", "me", "be", "with", "this", "that", "there", "please", "like", "want", "about", "have",
    "has", "so", "just", "yes", "no", "ok", "okay", "um", "uh", "tell", "know", "from",
}  # fmt: skip
_KEYPAD = re.compile(r"^The caller pressed (.+) on the keypad\.$")
_HUMAN_REQUEST = re.compile(
    r"\b(human|real person|a person|someone|somebody|operator|agent|representative|manager|colleague)\b"
)
_ASKING = re.compile(r"\b(speak|talk|transfer|connect|put me through|get me|want|need|can i have)\b")
TRANSFER_REPLY = "Of course. Let me transfer you to a colleague."
# "don't call me again", "stop calling", "take me off your list", "remove my number" and the like.
_OPT_OUT = re.compile(
    r"\b(?:(?:don't|do not|never|not to) (?:call|ring|phone|contact)(?!(?: me| us)? back)"
    r"|stop (?:calling|ringing|phoning|contacting)|(?:take|remove|delete) (?:me|my number|us) (?:off|from)"
    r"|unsubscribe|opt out)\b"
)
OPT_OUT_REPLY = "Of course. You won't be called again. Goodbye."
OFFLINE_IDENTITY = (
    "I'm an offline scripted assistant: simple rules running on this machine, with no AI service "
    "behind me, so my answers come from what I was told about this call."
)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _facts(system_prompt: str) -> list[str]:
    sentences = [s.strip() for s in _SENTENCE.split(system_prompt) if s.strip()]
    return [s for s in sentences if _words(s) and _words(s)[0] not in _INSTRUCTION_START]


def scripted_reply(messages: Sequence[ChatMessage]) -> str:
    """The whole reply for this conversation state; pure, so every rule is tested directly."""
    system = " ".join(m.content for m in messages if m.role == "system")
    caller = next((m.content for m in reversed(messages) if m.role == "user"), "")
    said = " ".join(_words(caller))
    words = set(_words(caller))
    answered = sum(1 for m in messages if m.role == "assistant")
    keys = _KEYPAD.match(caller)
    if keys:
        return f"You pressed {keys.group(1)}. Thank you, I've noted that."
    if not said:
        return (
            "Hello! How can I help you today?"
            if answered == 0
            else "Sorry, I didn't catch that. Could you say it again?"
        )
    if any(phrase in said for phrase in _IDENTITY):
        return OFFLINE_IDENTITY
    if words & _GOODBYE or any(p in said for p in _GOODBYE if " " in p):
        return "Thank you for calling. Goodbye!"
    content = words - _STOPWORDS
    best, best_score = "", 0
    for fact in _facts(system):
        score = len(content & set(_words(fact)))
        if score > best_score:
            best, best_score = fact, score
    if best:
        return f"{best} Is there anything else I can help with?"
    if words & _GREETING:
        return "Hello! How can I help you today?"
    if "thank" in words or "thanks" in words:
        return "You're welcome. Is there anything else I can help with?"
    fallbacks = (
        "I see. Could you tell me a little more about what you need?",
        "I'm only a simple offline assistant, so I may not know that. Could you put it another way?",
    )
    return fallbacks[answered % len(fallbacks)]


def _last_caller(messages: Sequence[ChatMessage]) -> str:
    return " ".join(_words(next((m.content for m in reversed(messages) if m.role == "user"), "")))


def scripted_tool(messages: Sequence[ChatMessage], offered: Sequence[str]) -> tuple[str, ToolCall] | None:
    """The reply and tool call for this turn when a tool fits, else None (pure)."""
    said = _last_caller(messages)
    asks_for_person = bool(_HUMAN_REQUEST.search(said) and _ASKING.search(said))
    if "opt_out" in offered and _OPT_OUT.search(said):
        return OPT_OUT_REPLY, ToolCall("opt_out")
    if "transfer_call" in offered and asks_for_person and not any(p in said for p in _IDENTITY):
        return TRANSFER_REPLY, ToolCall("transfer_call", {"reason": "caller asked for a person"})
    if "end_call" in offered:
        reply = scripted_reply(messages)
        if reply == "Thank you for calling. Goodbye!":
            return reply, ToolCall("end_call")
    return None


class ScriptedLanguageModel:
    """Streams `scripted_reply` one word at a time; `model` is accepted and ignored."""

    def __init__(self, *, seconds_per_word: float = 0.01) -> None:
        self._delay = seconds_per_word

    def stream(self, messages: Sequence[ChatMessage], *, model: str) -> AsyncIterator[str]:
        return text_deltas(self.stream_with_tools(messages, model=model, tools=()))

    async def stream_with_tools(
        self, messages: Sequence[ChatMessage], *, model: str, tools: Sequence[ToolSpec]
    ) -> AsyncIterator[str | ToolCall]:
        planned = scripted_tool(messages, [t.name for t in tools])
        reply, call = planned if planned is not None else (scripted_reply(messages), None)
        for index, word in enumerate(reply.split(" ")):
            if self._delay > 0:
                await asyncio.sleep(self._delay)
            yield word if index == 0 else f" {word}"
        if call is not None:
            yield call
