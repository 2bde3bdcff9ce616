"""What the linters cannot see in template.yaml: the numbers and wiring that only fail at deploy or mid-call.

`sam validate --lint` accepts StopTimeout 300, an idle timeout of 5000 s or instance targets with awsvpc (see
the README's "Deploy to AWS"); CloudFormation or ECS would reject them only at deploy time, and a too-short
drain window would only show as dropped calls. These tests read the template itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from local.template import load_template

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()


TEMPLATE: dict[str, Any] = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def resources_of(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def only(kind: str) -> dict[str, Any]:
    found = resources_of(kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))["Properties"]


def container(name: str = "stream-host") -> dict[str, Any]:
    definitions = only("AWS::ECS::TaskDefinition")["ContainerDefinitions"]
    (found,) = [d for d in definitions if d["Name"] == name]
    return found


def container_env() -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container().get("Environment", [])}


def parameter_default(value: Any) -> Any:
    """A literal, or the default of the parameter a {"Ref": name} points at."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return TEMPLATE["Parameters"][value["Ref"]]["Default"]
    return value


def attributes(props: dict[str, Any], key: str) -> dict[str, Any]:
    return {a["Key"]: parameter_default(a["Value"]) for a in props.get(key, [])}


def test_stop_timeout_within_fargate_limit() -> None:
    assert 1 <= int(container()["StopTimeout"]) <= 120


def test_alb_idle_timeout_in_range_and_sized_for_calls() -> None:
    attrs = attributes(only("AWS::ElasticLoadBalancingV2::LoadBalancer"), "LoadBalancerAttributes")
    assert 60 <= int(attrs["idle_timeout.timeout_seconds"]) <= 4000


def test_target_group_uses_ip_targets_and_the_stream_hosts_health_path() -> None:
    tg = only("AWS::ElasticLoadBalancingV2::TargetGroup")
    assert tg["TargetType"] == "ip"  # required by awsvpc networking
    assert tg["HealthCheckPath"] == "/healthz"
    assert str(tg["Matcher"]["HttpCode"]) == "200"


def test_health_path_is_served_by_the_stream_host_without_upgrade() -> None:
    """The ALB health check must get 200, not websockets' 426: the path is answered in process_request."""
    source = (ROOT / "stream_server" / "host" / "server.py").read_text()
    assert '"/healthz"' in source


def test_https_listener_has_certificate_and_modern_tls() -> None:
    listeners = [r["Properties"] for r in resources_of("AWS::ElasticLoadBalancingV2::Listener").values()]
    https = [p for p in listeners if p["Protocol"] == "HTTPS"]
    assert len(https) == 1
    assert https[0]["Port"] == 443
    assert https[0]["Certificates"][0]["CertificateArn"] == {"Ref": "CertificateArn"}
    assert "TLS13-1-2" in https[0]["SslPolicy"]  # TLS 1.2 and 1.3 only
    plain = [p for p in listeners if p["Protocol"] == "HTTP"]
    assert all(p["DefaultActions"][0]["Type"] == "redirect" for p in plain)


def test_task_security_group_admits_only_the_load_balancer() -> None:
    service = only("AWS::ECS::Service")
    (task_sg,) = service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    ingress = RESOURCES[task_sg["Ref"]]["Properties"]["SecurityGroupIngress"]
    (lb_sg,) = only("AWS::ElasticLoadBalancingV2::LoadBalancer")["SecurityGroups"]
    assert ingress, "the task security group must allow the load balancer in"
    for rule in ingress:
        assert rule.get("SourceSecurityGroupId") == lb_sg, rule
        assert "CidrIp" not in rule and "CidrIpv6" not in rule
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"


def _statements(node: Any) -> list[dict[str, Any]]:
    """Every IAM statement anywhere in the template (roles, inline policies, SAM policy documents)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            found.append(node)
        for value in node.values():
            found.extend(_statements(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_statements(value))
    return found


# Actions that have no resource-level permissions, so AWS requires "*" (each use carries a comment).
STAR_RESOURCE_ALLOWED = {"cloudwatch:PutMetricData", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_no_wildcard_resources_except_where_aws_requires_them() -> None:
    statements = _statements(RESOURCES)
    assert statements
    for statement in statements:
        resources = statement.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        if "*" in resources:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert set(actions) <= STAR_RESOURCE_ALLOWED, statement
    # …and each such "*" is explained in a comment just above it.
    lines = TEMPLATE_TEXT.splitlines()
    for number, line in enumerate(lines):
        if re.search(r"Resource:\s*[\"']\*[\"']", line):
            window = "\n".join(lines[max(0, number - 4) : number])
            assert "#" in window, f"line {number + 1}: Resource '*' without a comment saying why"


SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY)(?!_ARN)", re.IGNORECASE)


def test_secrets_never_in_plain_environment() -> None:
    for name in container_env():
        assert not SECRET_NAME.search(name), f"{name} must come from Secrets, not Environment"
    secret_names = {s["Name"] for s in container().get("Secrets", [])}
    assert {
        "TWILIO_AUTH_TOKEN",
        "STREAM_TOKEN_SECRET",
        "ELEVENLABS_API_KEY",
        "CEREBRAS_API_KEY",
    } <= secret_names
    for name, resource in resources_of("AWS::Serverless::Function").items():
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        globals_vars = (
            TEMPLATE.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        )
        for var, value in {**globals_vars, **variables}.items():
            # An empty value is only a placeholder that `sam local --env-vars` may fill in on a laptop.
            if SECRET_NAME.search(var):
                assert value == "", (
                    f"{name}: {var} must be read from Secrets Manager, not set in the template"
                )
        assert "TWILIO_SECRET_ARN" in globals_vars


def test_drain_window_covers_the_stream_hosts_drain_deadline() -> None:
    tg = only("AWS::ElasticLoadBalancingV2::TargetGroup")
    delay = int(attributes(tg, "TargetGroupAttributes")["deregistration_delay.timeout_seconds"])
    stop_timeout = int(container()["StopTimeout"])
    drain_deadline = int(container_env()["DRAIN_DEADLINE_SECONDS"])
    # SIGTERM comes after the deregistration delay; the drain (goodbyes included) must end before SIGKILL.
    assert drain_deadline < stop_timeout
    assert delay + stop_timeout >= drain_deadline


def test_stream_url_in_tasks_and_functions_is_wss_without_query() -> None:
    url = container_env()["STREAM_PUBLIC_URL"]
    text = url["Fn::Sub"] if isinstance(url, dict) else url
    assert text.startswith("wss://") and "?" not in text


def test_autoscaling_tracks_live_calls_with_a_long_scale_in_cooldown() -> None:
    policies = [r["Properties"] for r in resources_of("AWS::ApplicationAutoScaling::ScalingPolicy").values()]
    custom = [
        p["TargetTrackingScalingPolicyConfiguration"]
        for p in policies
        if "CustomizedMetricSpecification" in p["TargetTrackingScalingPolicyConfiguration"]
    ]
    assert len(custom) == 1
    assert custom[0]["CustomizedMetricSpecification"]["MetricName"] == "ActiveCalls"
    assert custom[0]["ScaleInCooldown"] >= 300


def test_capacity_cap_sits_above_the_scaling_target_and_reaches_the_host() -> None:
    """The hard cap (MAX_CALLS) is the measured knee with headroom; the target sits below it so
    round robin's uneven spread and the minutes a new task takes do not fill a task (bench/bench_fleet.py)."""
    cap = parameter_default(container_env()["MAX_CALLS"])
    policies = [r["Properties"] for r in resources_of("AWS::ApplicationAutoScaling::ScalingPolicy").values()]
    (target,) = [
        parameter_default(p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"])
        for p in policies
        if "CustomizedMetricSpecification" in p["TargetTrackingScalingPolicyConfiguration"]
    ]
    assert 0 < int(target) < int(cap)


def test_peak_floor_is_scheduled_only_when_asked_for_and_returns_to_the_minimum() -> None:
    target = only("AWS::ApplicationAutoScaling::ScalableTarget")
    scheduled = target["ScheduledActions"]["Fn::If"]
    assert scheduled[0] == "HasPeakFloor" and scheduled[2] == {"Ref": "AWS::NoValue"}
    start, end = scheduled[1]
    assert start["ScalableTargetAction"] == {"MinCapacity": {"Ref": "StreamPeakMinTasks"}}
    assert end["ScalableTargetAction"] == {"MinCapacity": {"Ref": "StreamMinTasks"}}
    assert TEMPLATE["Parameters"]["StreamPeakMinTasks"]["Default"] == 0  # off unless configured
    assert TEMPLATE["Conditions"]["HasPeakFloor"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "StreamPeakMinTasks"}, "0"]}]
    }


@pytest.mark.parametrize("env", ["default", "prod"])
def test_samconfig_environments_are_complete(env: str) -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config[env]["global"]["parameters"]["stack_name"]
    for command in ("build", "deploy"):
        assert command in config[env], f"[{env}.{command}] missing: SAM environments do not inherit"


def test_emf_metrics_reach_cloudwatch_through_the_agent_sidecar() -> None:
    """awslogs alone does not turn EMF lines into metrics on ECS: the agent must listen where we send."""
    env = container_env()
    agent = container("cloudwatch-agent")
    config = {e["Name"]: e["Value"] for e in agent["Environment"]}["CW_CONFIG_CONTENT"]
    assert env["EMF_AGENT_ENDPOINT"] in config
    assert env["EMF_AGENT_ENDPOINT"].startswith("udp://127.0.0.1:")
    assert {"ContainerName": "cloudwatch-agent", "Condition": "START"} in container()["DependsOn"]
    assert agent["Essential"] is False  # metrics must never take calls down with them
