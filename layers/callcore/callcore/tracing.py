"""The Powertools Tracer every handler decorates with, built so X-Ray costs only where it traces.

A plain ``Tracer()`` imports the X-Ray SDK and builds its recorder even when tracing is off;
outside Lambda that recorder also creates two botocore clients for centralised sampling (about
150 ms here), and when tracing is on, ``patch_all`` imports every library X-Ray knows (httpx,
sqlite3, ...) to patch it. So:

* tracing active (in Lambda, POWERTOOLS_TRACE_DISABLED not set): the real X-Ray provider, patching
  only the libraries our handlers use for I/O (botocore; requests where Twilio is called);
* tracing off (tests, the local stack, ``sam local``, POWERTOOLS_TRACE_DISABLED=true): a provider
  whose segments record nothing, so the SDK is never imported. Nothing was sent in that case
  before either; the decorators still run and see the same interface.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.shared.functions import strtobool
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from aws_lambda_powertools import Tracer

__all__ = ["IdleTracingProvider", "build_tracer", "tracing_active"]


def tracing_active(env: Mapping[str, str] | None = None) -> bool:
    """Powertools' own rule for whether Tracer traces (see ``Tracer._is_tracer_disabled``).

    Off when POWERTOOLS_TRACE_DISABLED is truthy, outside Lambda (no LAMBDA_TASK_ROOT), or under
    ``sam local`` / Chalice local, where no X-Ray daemon listens.
    """
    e = os.environ if env is None else env
    if strtobool(e.get("POWERTOOLS_TRACE_DISABLED", "false")):  # same parser, same ValueError
        return False
    if not e.get("LAMBDA_TASK_ROOT"):
        return False
    return not (e.get("AWS_SAM_LOCAL") or e.get("AWS_CHALICE_CLI_MODE"))


class _IdleSegment(BaseSegment):
    """A segment that accepts every call and keeps nothing."""

    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        return None


class IdleTracingProvider(BaseProvider):
    """The Tracer provider when tracing is off: same interface as X-Ray's, no SDK behind it."""

    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _IdleSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> AsyncGenerator[BaseSegment, None]:
        yield _IdleSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Sequence[str]) -> None:
        return None

    def patch_all(self) -> None:
        return None


def build_tracer(
    service: str, *, patch_modules: Sequence[str] = ("botocore",), env: Mapping[str, str] | None = None
) -> Tracer:
    """A Powertools Tracer for ``service``; X-Ray is loaded only when it will actually trace.

    Args:
        service: the service name on every segment (as ``Tracer(service=...)``).
        patch_modules: libraries X-Ray instruments when tracing; the default covers DynamoDB and
            Secrets Manager (botocore). Add ``"requests"`` where the Twilio REST API is called.
        env: the environment to decide from (default ``os.environ``).
    """
    from aws_lambda_powertools import Tracer

    if tracing_active(env):
        return Tracer(service=service, patch_modules=list(patch_modules))
    return Tracer(service=service, disabled=True, provider=IdleTracingProvider())
