"""The process's AWS clients, all from one botocore session that is created on first use.

Plain botocore rather than boto3: boto3 adds s3transfer and its resource layer to the import, and
the handlers need neither. One shared session because every new session re-reads botocore's data
directory and endpoint rules (about 70 ms here before its first client; a second client from the
same session takes under 10 ms), and a webhook's first request needs two clients (Secrets
Manager, DynamoDB). Sessions are not thread-safe, so clients are created under a lock; the
clients themselves are.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["LIVE_CALL_TIMEOUTS", "AwsTimeouts", "aws_client", "reset_aws_session"]


@dataclass(frozen=True)
class AwsTimeouts:
    """Bounds of one AWS request: seconds to connect, seconds to wait for a reply, total attempts."""

    connect_seconds: float
    read_seconds: float
    max_attempts: int


# The stream host's reads and writes happen while a caller waits (token check, persona, turns):
# a slow DynamoDB must fail fast into the call's own error handling, not hold a slot for minutes.
LIVE_CALL_TIMEOUTS = AwsTimeouts(connect_seconds=1.0, read_seconds=2.0, max_attempts=3)

_lock = threading.Lock()
_session: Any = None


def aws_client(
    service: str,
    *,
    region_name: str,
    endpoint_url: str | None = None,
    timeouts: AwsTimeouts | None = None,
) -> Any:
    """A new botocore client for ``service`` (``AWS_ENDPOINT_URL_<SERVICE>`` is honoured too).

    ``timeouts`` bounds every request (connect, read, attempts); without it botocore's defaults
    apply (60 s reads, retries), which is fine for a Lambda but not for a live call.
    """
    global _session
    with _lock:
        if _session is None:
            import botocore.session

            _session = botocore.session.get_session()
        config = None
        if timeouts is not None:
            from botocore.config import Config

            config = Config(
                connect_timeout=timeouts.connect_seconds,
                read_timeout=timeouts.read_seconds,
                retries={"total_max_attempts": timeouts.max_attempts, "mode": "standard"},
            )
        return _session.create_client(
            service, region_name=region_name, endpoint_url=endpoint_url or None, config=config
        )


def reset_aws_session() -> None:
    """Forget the session, so the next client starts from a new one.

    For tests: a session keeps the request hooks present when it was made, so one created before
    moto was imported would send later mocked requests to AWS.
    """
    global _session
    with _lock:
        _session = None
