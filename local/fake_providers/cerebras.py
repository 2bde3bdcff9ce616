"""A fake Cerebras inference API: `POST /v1/chat/completions` (SSE streaming, or one JSON answer;
`response_format` structured output) and `GET /v1/models`.

Chunks have the OpenAI-compatible shape the `cerebras-cloud-sdk` parses (`chat.completion.chunk`
objects, `data: [DONE]` at the end). Reasoning tokens are streamed in `delta.reasoning` before the
answer, as `gpt-oss-120b` does, so the adapter's filtering is tested. Latency is fixed and
configurable (first token, then a token rate); faults can be scheduled per request ("ok" for a
request that goes through), so an end-to-end test or the local stack can fail exactly the Nth one.

Strict where the real service is strict (docs/providers.md lists the sources):
- retired models (`llama3.1-8b`, `llama-3.3-70b`, `qwen-3-32b`, ...) answer 404 `model_not_found`,
  and `GET /v1/models` does not list them;
- `gpt-oss-*` accepts `reasoning_effort` low / medium / high only ("none" and "minimal" are 400);
- reasoning tokens count against `max_completion_tokens`: a reply that does not fit is cut and
  ends with `finish_reason: "length"`;
- `parallel_tool_calls` with `stream: true` is refused with 400, as Cerebras' OpenAI-compatibility
  notes say (`refuse_parallel_tool_calls=False` models a server that has since relaxed this);
- `refuse_streaming_tools=True` models the same notes' "streaming not supported with tool calling"
  (a 400 for any streamed request that offers tools); off by default, since streamed tool calls
  are what Pipecat's Cerebras service sends and recorded traffic shows them working.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from local.fake_providers.server import FakeServer

__all__ = [
    "CEREBRAS_FAULTS",
    "RETIRED_MODELS",
    "CerebrasFault",
    "FakeCerebras",
    "RecordedChat",
    "instance_of",
    "split_tokens",
]

CerebrasFault = Literal["ok", "http_500", "http_429", "drop_mid_stream", "error_event", "stall"]
CEREBRAS_FAULTS: tuple[str, ...] = ("ok", "http_500", "http_429", "drop_mid_stream", "error_event", "stall")
RETIRED_MODELS = (
    "llama3.1-8b",
    "llama-3.3-70b",
    "qwen-3-32b",
    "qwen-3-235b-a22b-instruct-2507",
    "zai-glm-4.6",
)
_GPT_OSS_EFFORTS = ("low", "medium", "high")
ReplyRule = Callable[[list[dict[str, Any]]], str]
# Given the messages and the offered tool names: the (name, arguments) calls to stream after the text.
ToolRule = Callable[[list[dict[str, Any]], list[str]], list[tuple[str, dict[str, Any]]]]
# Given the messages and the requested JSON Schema: the raw text of a structured-output answer.
StructuredRule = Callable[[list[dict[str, Any]], dict[str, Any]], str]


@dataclass(frozen=True)
class RecordedChat:
    """One chat request as the fake received it, for assertions."""

    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class _Config:
    reply: str | ReplyRule
    reasoning: str
    first_token_ms: float
    tokens_per_second: float
    models: tuple[str, ...]
    faults: deque[CerebrasFault] = field(default_factory=deque)
    tool_rule: ToolRule | None = None
    refuse_parallel_tool_calls: bool = True
    refuse_streaming_tools: bool = False
    structured_rule: StructuredRule | None = None


def split_tokens(text: str) -> list[str]:
    """Word-sized pieces that keep their leading whitespace, like a BPE tokenizer's stream."""
    return re.findall(r"\s*\S+", text) or ([text] if text else [])


def _default_reply(messages: list[dict[str, Any]]) -> str:
    last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    return f"You said: {last}" if last else "Hello! How can I help?"


class FakeCerebras(FakeServer):
    """In-process: `async with FakeCerebras(api_key="k") as fake: fake.base_url`."""

    def __init__(
        self,
        *,
        api_key: str = "test-cerebras-key",
        reply: str | ReplyRule = _default_reply,
        reasoning: str = "The caller wants an answer. Keep it short.",
        first_token_ms: float = 150.0,
        tokens_per_second: float = 1000.0,
        models: Sequence[str] = ("gpt-oss-120b",),
        tool_rule: ToolRule | None = None,
        refuse_parallel_tool_calls: bool = True,
        refuse_streaming_tools: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_key = api_key
        self.config = _Config(reply, reasoning, first_token_ms, tokens_per_second, tuple(models))
        self.config.tool_rule = tool_rule
        self.config.refuse_parallel_tool_calls = refuse_parallel_tool_calls
        self.config.refuse_streaming_tools = refuse_streaming_tools
        self.requests: list[RecordedChat] = []

    def inject(self, *faults: CerebrasFault) -> None:
        """Schedule the next chat requests' fates, one per request, in order ("ok" = no fault)."""
        self.config.faults.extend(faults)

    def install(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/tcp_warming", self._warming)

    # --- handlers ------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {self.api_key}"

    async def _warming(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "Wrong API Key", "invalid_request_error", "wrong_api_key")
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "Cerebras"}
            for m in self.config.models
            if m not in RETIRED_MODELS
        ]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _error(401, "Wrong API Key", "invalid_request_error", "wrong_api_key")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "Request body is not valid JSON", "invalid_request_error", "bad_json")
        self.requests.append(RecordedChat(dict(request.headers), body))
        self.milestone("llm_request")
        messages = body.get("messages")
        model = body.get("model")
        if not isinstance(messages, list) or not messages:
            return _error(400, "messages must be a non-empty list", "invalid_request_error", "bad_messages")
        if model not in self.config.models or model in RETIRED_MODELS:
            return _error(
                404,
                f"Model {model} does not exist or you do not have access to it.",
                "not_found_error",
                "model_not_found",
            )
        problem = _request_problem(
            body,
            str(model),
            refuse_parallel=self.config.refuse_parallel_tool_calls,
            refuse_streaming_tools=self.config.refuse_streaming_tools,
        )
        if problem is not None:
            return _error(400, problem[1], "invalid_request_error", problem[0])
        scheduled = self.config.faults.popleft() if self.config.faults else None
        fault = None if scheduled == "ok" else scheduled
        if fault == "http_500":
            return _error(500, "Internal server error", "server_error", "internal")
        if fault == "http_429":
            return _error(429, "Too many requests", "too_many_requests_error", "rate_limited")
        if body.get("response_format") is not None:
            return self._structured(body, model, messages)
        reply = self.config.reply if isinstance(self.config.reply, str) else self.config.reply(messages)
        if not body.get("stream"):
            return web.json_response(self._completion(model, reply))
        offered = [t.get("function", {}).get("name", "") for t in body.get("tools") or []]
        calls = self.config.tool_rule(messages, offered) if self.config.tool_rule and offered else []
        # Like the real API, a model only ever calls tools it was offered.
        calls = [(name, args) for name, args in calls if name in offered]
        budget = body.get("max_completion_tokens")
        limit = budget if isinstance(budget, int) and budget > 0 else None
        return await self._stream(request, model, reply, fault, calls, limit)

    def _structured(self, body: dict[str, Any], model: str, messages: list[dict[str, Any]]) -> web.Response:
        """``response_format`` (non-streaming): ``json_object``, or ``json_schema`` with a named schema."""
        fmt = body["response_format"]
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_object":
            schema: dict[str, Any] = {"type": "object"}
        elif kind == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                return _error(
                    400, "json_schema.schema must be an object", "invalid_request_error", "bad_schema"
                )
            if not isinstance(spec.get("name"), str) or not re.fullmatch(
                r"[A-Za-z0-9_-]{1,64}", spec["name"]
            ):
                return _error(400, "json_schema.name is required", "invalid_request_error", "bad_schema")
            schema = spec["schema"]
        else:
            return _error(
                400, f"unsupported response_format type {kind!r}", "invalid_request_error", "bad_format"
            )
        if body.get("stream"):
            return _error(
                400, "response_format is not supported with stream", "invalid_request_error", "bad_format"
            )
        rule = self.config.structured_rule
        text = rule(messages, schema) if rule else json.dumps(instance_of(schema))
        return web.json_response(self._completion(model, text))

    def _completion(self, model: str, reply: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": reply, "reasoning": self.config.reasoning},
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(split_tokens(reply)), "total_tokens": 0},
            "time_info": {"queue_time": 0.0, "prompt_time": 0.0, "completion_time": 0.0, "total_time": 0.0},
        }

    async def _stream(
        self,
        request: web.Request,
        model: str,
        reply: str,
        fault: CerebrasFault | None,
        calls: Sequence[tuple[str, dict[str, Any]]] = (),
        max_completion_tokens: int | None = None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        chunk_id = f"chatcmpl-{uuid.uuid4()}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            payload = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload)}\n\n".encode()

        await asyncio.sleep(self.config.first_token_ms / 1000)
        await response.write(chunk({"role": "assistant"}))
        self.milestone("llm_first_token")
        if fault == "stall":
            await asyncio.sleep(3600)
        gap = 1.0 / self.config.tokens_per_second if self.config.tokens_per_second > 0 else 0.0
        reasoning = split_tokens(self.config.reasoning)
        tokens = split_tokens(reply)
        # Reasoning is spent first and counts against the same budget as the visible reply.
        budget = max_completion_tokens if max_completion_tokens is not None else len(reasoning) + len(tokens)
        cut = len(reasoning) + len(tokens) > budget
        reasoning = reasoning[:budget]
        tokens = tokens[: max(0, budget - len(reasoning))]
        if cut:
            calls = ()
        for piece in reasoning:
            await response.write(chunk({"reasoning": piece}))
            await asyncio.sleep(gap)
        for index, piece in enumerate(tokens):
            if fault in ("drop_mid_stream", "error_event") and index == len(tokens) // 2:
                if fault == "error_event":
                    error = {"error": {"message": "Upstream failure", "type": "server_error", "code": "500"}}
                    await response.write(f"data: {json.dumps(error)}\n\n".encode())
                    await response.write_eof()
                    return response
                # Cut the TCP connection with the chunked body unfinished, as a crash would.
                if request.transport is not None:
                    request.transport.abort()
                return response
            await response.write(chunk({"content": piece}))
            await asyncio.sleep(gap)
        for index, (name, arguments) in enumerate(calls):
            # OpenAI-style fragments: id, type and name first, then the JSON arguments in pieces.
            head = {"index": index, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "function"}
            await response.write(
                chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
            )
            text = json.dumps(arguments)
            for start in range(0, len(text), 8):
                fragment: dict[str, Any] = {
                    "index": index,
                    "type": "function",
                    "function": {"arguments": text[start : start + 8]},
                }
                await response.write(chunk({"tool_calls": [fragment]}))
                await asyncio.sleep(gap)
        finish = "length" if cut else "tool_calls" if calls else "stop"
        await response.write(chunk({}, finish=finish))
        usage = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": len(reasoning) + len(tokens),
                "total_tokens": 10 + len(reasoning) + len(tokens),
            },
        }
        await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _request_problem(
    body: dict[str, Any], model: str, *, refuse_parallel: bool, refuse_streaming_tools: bool = False
) -> tuple[str, str] | None:
    """The 400 the real API gives this request, as (code, message), or None."""
    effort = body.get("reasoning_effort")
    if effort is not None and model.startswith("gpt-oss") and effort not in _GPT_OSS_EFFORTS:
        return (
            "wrong_api_format",
            f"reasoning_effort {effort!r} is not supported by {model}: use low, medium or high",
        )
    if refuse_parallel and body.get("stream") and "parallel_tool_calls" in body:
        return "wrong_api_format", "parallel_tool_calls is not supported with stream=true"
    if refuse_streaming_tools and body.get("stream") and body.get("tools"):
        return "wrong_api_format", "tools are not supported with stream=true"
    return None


def instance_of(schema: dict[str, Any]) -> Any:
    """A small value valid for common schemas (first enum value, every property), as a model
    constrained to the schema would produce."""
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {k: instance_of(v) for k, v in (schema.get("properties") or {}).items() if isinstance(v, dict)}
    if kind == "array":
        return []
    if kind == "string":
        return "text"
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    return None


def _error(status: int, message: str, kind: str, code: str) -> web.Response:
    body = {"message": message, "type": kind, "param": "", "code": code}
    return web.json_response(body, status=status)
