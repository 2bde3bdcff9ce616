"""The README's configuration table and the stream host's settings say the same thing.

Every variable `StreamSettings.from_env` reads is documented, and every row the README marks as read
by the stream host is actually read by it: a setting that does nothing cannot hide in the table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stream_server.settings import StreamSettings

ROOT = Path(__file__).resolve().parents[3]


class RecordingEnv(dict[str, str]):
    """An empty environment that remembers every name it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return super().__contains__(key)


def readme_rows() -> dict[str, str]:
    """Variable -> the "read by" cell, for every row of the README's configuration table."""
    rows: dict[str, str] = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        cells = line.split("|")
        if not line.startswith("| `") or len(cells) < 5:
            continue
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[1]):
            rows[name] = cells[3]
    return rows


# The AWS SDK's own variables, documented by AWS.
AWS_SDK = {"AWS_REGION", "AWS_DEFAULT_REGION"}


def test_everything_the_stream_host_reads_is_documented() -> None:
    env = RecordingEnv()
    StreamSettings.from_env(env)
    assert env.asked, "the settings read nothing through the given environment"
    assert env.asked - set(readme_rows()) - AWS_SDK == set()


def test_every_stream_host_row_is_read() -> None:
    env = RecordingEnv()
    StreamSettings.from_env(env)
    documented = {name for name, readers in readme_rows().items() if "stream host" in readers}
    assert documented - env.asked == set()
