"""Task scale-in protection against a local stand-in for the ECS agent endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from local.http_site import start_site
from stream_server.host.task_protection import ProtectionPolicy, ProtectionRequest, TaskProtection


class FakeEcsAgent:
    """Answers PUT /task-protection/v1/state the way the ECS agent does (or with a failure, when told)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next = False

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.fail_next:
            self.fail_next = False
            return web.json_response(
                {"failure": {"Arn": "arn:aws:ecs:task/x", "Reason": "TASK_NOT_VALID", "Detail": None}}
            )
        return web.json_response(
            {"protection": {"ProtectionEnabled": body["ProtectionEnabled"], "TaskArn": "arn:aws:ecs:task/x"}}
        )


@pytest.fixture
async def agent() -> AsyncIterator[tuple[FakeEcsAgent, str]]:
    fake = FakeEcsAgent()
    app = web.Application()
    app.router.add_put("/task-protection/v1/state", fake.handle)
    runner, port = await start_site(app, "127.0.0.1", 0)
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def test_policy_takes_renews_and_releases() -> None:
    policy = ProtectionPolicy(expires_in_minutes=60, renew_after_seconds=100)
    assert policy.decide(0, now=0) is None  # idle and unprotected: nothing to do
    first = policy.decide(1, now=0)
    assert first == ProtectionRequest(True, 60)
    policy.confirmed(first, now=0)
    assert policy.decide(3, now=50) is None  # still fresh
    renew = policy.decide(2, now=100)
    assert renew == ProtectionRequest(True, 60)
    policy.confirmed(renew, now=100)
    release = policy.decide(0, now=120)
    assert release == ProtectionRequest(False)
    policy.confirmed(release, now=120)
    assert not policy.protected
    assert policy.decide(0, now=130) is None


def test_policy_rejects_limits_ecs_would_refuse() -> None:
    with pytest.raises(ValueError):
        ProtectionPolicy(expires_in_minutes=0)
    with pytest.raises(ValueError):
        ProtectionPolicy(expires_in_minutes=2881)
    with pytest.raises(ValueError):
        ProtectionPolicy(expires_in_minutes=1, renew_after_seconds=60)


async def test_protection_follows_live_calls(agent: tuple[FakeEcsAgent, str]) -> None:
    fake, uri = agent
    protection = TaskProtection(uri, ProtectionPolicy(expires_in_minutes=30, renew_after_seconds=600))
    await protection.update(1)
    await protection.update(2)  # already protected: no second request
    await protection.update(0)
    assert fake.requests == [
        {"ProtectionEnabled": True, "ExpiresInMinutes": 30},
        {"ProtectionEnabled": False},
    ]


async def test_refusal_is_retried_on_next_update(agent: tuple[FakeEcsAgent, str]) -> None:
    fake, uri = agent
    protection = TaskProtection(uri)
    fake.fail_next = True
    await protection.update(1)
    assert not protection.policy.protected
    await protection.update(1)
    assert protection.policy.protected
    assert [r["ProtectionEnabled"] for r in fake.requests] == [True, True]


async def test_unreachable_agent_is_survived() -> None:
    protection = TaskProtection("http://127.0.0.1:9")  # discard port: connection refused
    await protection.update(1)
    assert not protection.policy.protected


async def test_outside_ecs_does_nothing() -> None:
    protection = TaskProtection(None)
    assert not protection.enabled
    await protection.update(5)
    assert not protection.policy.protected


async def test_follower_takes_and_releases_protection_as_calls_come_and_go(
    agent: tuple[FakeEcsAgent, str],
) -> None:
    fake, uri = agent
    live = {"calls": 0}
    protection = TaskProtection(uri)
    protection.start(lambda: live["calls"], check_every=30)
    await asyncio.sleep(0.1)
    live["calls"] = 2
    protection.notify_changed()
    for _ in range(50):  # the follower runs in the background; wait for it, generously
        if protection.policy.protected:
            break
        await asyncio.sleep(0.05)
    assert protection.policy.protected
    live["calls"] = 0
    await protection.stop()  # stopping releases, whatever the follower was doing
    assert not protection.policy.protected
    assert fake.requests[-1] == {"ProtectionEnabled": False}
