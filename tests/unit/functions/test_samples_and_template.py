"""The shipped sample events, env.json and template.yaml agree with the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from callcore.api import twilio_form_if_signed
from callcore.settings import Settings

from tests.conftest import load_template

ROOT = Path(__file__).resolve().parents[3]


def _env_settings() -> Settings:
    return Settings.from_env(json.loads((ROOT / "env.json").read_text())["Parameters"])


@pytest.mark.parametrize("path", sorted((ROOT / "events").glob("twilio_*.json")), ids=lambda p: p.name)
def test_sample_twilio_events_are_signed_for_env_json(path: Path) -> None:
    settings = _env_settings()
    event = APIGatewayProxyEvent(json.loads(path.read_text()))
    assert twilio_form_if_signed(event, settings, settings.twilio_auth_token) is not None


def test_template_routes_match_handlers_and_auth() -> None:
    resources: dict[str, Any] = load_template()["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    routes = set()
    for name, fn in functions.items():
        props = fn["Properties"]
        module = props["Handler"].split(".")[0]
        assert (ROOT / props["CodeUri"] / f"{module}.py").is_file(), name
        assert (ROOT / props["CodeUri"] / "requirements.txt").is_file(), name
        for event in props["Events"].values():
            if event["Type"] != "Api":
                continue  # queue and table-stream triggers (tests/unit/deploy)
            p = event["Properties"]
            routes.add((p["Method"], p["Path"]))
            # Twilio signs its webhooks; the console's static files carry no data (the page asks for a key).
            needs_key = not p["Path"].startswith(("/twilio/", "/console"))
            assert p.get("Auth", {}).get("ApiKeyRequired", False) is needs_key, p["Path"]
    assert {
        ("POST", "/calls"),
        ("GET", "/calls/{call_id}"),
        ("GET", "/personas"),
        ("GET", "/personas/{persona_id}"),
        ("PUT", "/personas/{persona_id}"),
        ("POST", "/twilio/answer/{call_id}"),
        ("POST", "/twilio/answer"),
        ("POST", "/twilio/status/{call_id}"),
        ("POST", "/twilio/stream-status/{call_id}"),
        ("POST", "/twilio/recording/{call_id}"),
        ("PUT", "/do-not-call/{number}"),
        ("DELETE", "/do-not-call/{number}"),
        ("GET", "/do-not-call"),
        ("POST", "/campaigns"),
        ("GET", "/campaigns"),
        ("GET", "/campaigns/{campaign_id}"),
        ("POST", "/campaigns/{campaign_id}/pause"),
        ("POST", "/campaigns/{campaign_id}/resume"),
        ("POST", "/campaigns/{campaign_id}/cancel"),
    } <= routes


def test_template_table_and_runtime() -> None:
    template = load_template()
    globals_fn = template["Globals"]["Function"]
    assert globals_fn["Runtime"] == "python3.13" and globals_fn["Architectures"] == ["arm64"]
    table = template["Resources"]["CallsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    plan = template["Resources"]["CallsApi"]["Properties"]["Auth"]["UsagePlan"]
    assert plan["Throttle"] and plan["Quota"]
    env_keys = set(json.loads((ROOT / "env.json").read_text())["Parameters"])
    # sam local only overrides variables the template declares.
    assert env_keys - {"POWERTOOLS_LOG_LEVEL"} <= set(globals_fn["Environment"]["Variables"])
