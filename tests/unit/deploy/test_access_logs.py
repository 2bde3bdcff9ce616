"""Access logs: API Gateway logs who called what (the API key id) and never what was said or dialled;
the load balancer's access log is one optional parameter away."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.conftest import load_template


def _resources() -> dict[str, Any]:
    return load_template()["Resources"]


def test_api_access_log_names_the_key_and_carries_no_bodies_or_numbers() -> None:
    setting = _resources()["CallsApi"]["Properties"]["AccessLogSetting"]
    condition, enabled, disabled = setting  # !If [condition, then, else]
    assert condition == "WriteApiAccessLogs" and disabled == "AWS::NoValue"
    assert enabled["DestinationArn"] == "ApiAccessLogGroup.Arn"
    record = json.loads(enabled["Format"])  # one JSON object per request
    assert record["apiKeyId"] == "$context.identity.apiKeyId"
    variables = set(re.findall(r"\$context\.[A-Za-z.]+", enabled["Format"]))
    # The route template, never the path (it holds phone numbers); no body, query or header values.
    assert "$context.resourcePath" in variables and "$context.path" not in variables
    assert not {v for v in variables if re.search(r"body|querystring|header", v, re.I)}


def test_api_access_logs_are_on_by_default_with_a_retention() -> None:
    params = load_template()["Parameters"]
    assert params["ApiAccessLogs"]["Default"] == "true"
    group = _resources()["ApiAccessLogGroup"]
    assert group["Condition"] == "WriteApiAccessLogs" and group["Properties"]["RetentionInDays"] > 0


def test_alb_access_logs_follow_the_optional_bucket_parameter() -> None:
    assert load_template()["Parameters"]["AlbAccessLogBucket"]["Default"] == ""
    attributes = _resources()["StreamLoadBalancer"]["Properties"]["LoadBalancerAttributes"]
    by_key = {a["Key"]: a["Value"] for a in attributes}
    assert by_key["access_logs.s3.enabled"] == ["WriteAlbAccessLogs", "true", "false"]
    assert by_key["access_logs.s3.bucket"] == "AlbAccessLogBucket"
