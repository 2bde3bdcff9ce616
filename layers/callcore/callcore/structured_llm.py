"""Structured output from Cerebras for the post-call analysis (Lambda side, standard library only).

The stream host talks to Cerebras through its SDK adapter (``stream_server/providers``); the
analysis step runs in a Lambda function whose layer carries no vendor SDK, so it sends the same
OpenAI-compatible request itself: ``POST {CEREBRAS_BASE_URL}/v1/chat/completions`` with
``response_format: {"type": "json_schema", "json_schema": {"name", "strict": true, "schema"}}``,
not streamed. One request per call to ``complete_json``; retrying an invalid answer is the caller's
decision (``callcore.analysis``).
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from callcore.analysis import ModelReply

__all__ = ["ANALYSIS_REQUEST_TIMEOUT_SECONDS", "CerebrasStructuredModel", "StructuredModelError"]

ANALYSIS_REQUEST_TIMEOUT_SECONDS = 20.0
"""One analysis request's limit; a finish job makes at most two, inside the worker's Lambda timeout."""


class StructuredModelError(RuntimeError):
    """The model API refused or failed; the message carries its status and error code, never the key."""


class CerebrasStructuredModel:
    """``callcore.analysis.StructuredModel`` backed by the Cerebras chat completions API."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str,
        timeout_seconds: float = ANALYSIS_REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("CEREBRAS_BASE_URL must be an http(s) URL")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_seconds = timeout_seconds

    def __repr__(self) -> str:
        return f"CerebrasStructuredModel(base_url={self.base_url!r}, model={self.model!r})"

    def request_body(self, system: str, user: str, schema: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "call_analysis", "strict": True, "schema": dict(schema)},
            },
            "temperature": 0,
            "max_completion_tokens": 2048,
            "stream": False,
        }

    def complete_json(self, system: str, user: str, schema: Mapping[str, Any]) -> ModelReply:
        data = json.dumps(self.request_body(system, user, schema)).encode()
        request = urllib.request.Request(  # noqa: S310 - http(s) base URL, checked in __init__
            f"{self.base_url}/v1/chat/completions",
            data=data,
            method="POST",
            headers={
                "Authorization": f"Bearer {self._api_key}",
                "Content-Type": "application/json",
                "User-Agent": "ai-phone-calls-analysis",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = ""
            with contextlib.suppress(ValueError, AttributeError):
                detail = str(json.loads(error.read()).get("code", ""))
            raise StructuredModelError(f"Cerebras answered {error.code} {detail}".strip()) from None
        except (urllib.error.URLError, TimeoutError, ValueError) as error:
            raise StructuredModelError(f"Cerebras request failed: {type(error).__name__}") from None
        try:
            text = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise StructuredModelError("Cerebras answer has no message content") from None
        usage = body.get("usage") or {}
        return ModelReply(
            text=str(text or ""),
            model=str(body.get("model") or self.model),
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
        )
