"""template.yaml for what a call produces: the table stream, the outcomes queue, its dead-letter queue
and alarm, the webhook secret, and the least-privilege IAM of the two new functions."""

from __future__ import annotations

import json
from typing import Any

from callcore.delivery import DELIVERY_TIMEOUT_SECONDS
from callcore.structured_llm import ANALYSIS_REQUEST_TIMEOUT_SECONDS

from tests.unit.deploy.test_template import RESOURCES


def _function(name: str) -> dict[str, Any]:
    resource = RESOURCES[name]
    assert resource["Type"] == "AWS::Serverless::Function"
    return dict(resource["Properties"])


def _policy_kinds(name: str) -> list[str]:
    return [next(iter(p)) if isinstance(p, dict) else p for p in _function(name)["Policies"]]


def test_the_table_streams_old_and_new_images() -> None:
    spec = RESOURCES["CallsTable"]["Properties"]["StreamSpecification"]
    assert spec == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_outcomes_queue_redrives_to_a_retained_dead_letter_queue() -> None:
    queue = RESOURCES["OutcomesQueue"]["Properties"]
    dlq = RESOURCES["OutcomesDeadLetterQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": "OutcomesDeadLetterQueue.Arn"}
    assert 1 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    # AWS: the visibility timeout must cover the worker's timeout, or a slow job is delivered twice at once.
    assert queue["VisibilityTimeout"] >= 6 * _function("CallOutcomesFunction")["Timeout"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600  # the SQS maximum: time to look at them
    assert queue["SqsManagedSseEnabled"] and dlq["SqsManagedSseEnabled"]


def test_dead_letters_raise_an_alarm_to_the_topic() -> None:
    alarm = RESOURCES["OutcomesDeadLetterAlarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/SQS" and alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": "OutcomesDeadLetterQueue.QueueName"}}
    ]
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_call_events_reads_only_call_records_from_the_stream() -> None:
    fn = _function("CallEventsFunction")
    [event] = fn["Events"].values()
    props = event["Properties"]
    assert event["Type"] == "DynamoDB" and props["Stream"] == {"Fn::GetAtt": "CallsTable.StreamArn"}
    assert (
        props["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and props["BisectBatchOnFunctionError"]
    )
    pattern = json.loads(props["FilterCriteria"]["Filters"][0]["Pattern"])
    assert pattern["dynamodb"]["Keys"]["SK"] == {"S": ["META"]}
    assert pattern["dynamodb"]["NewImage"]["entity"] == {"S": ["call"]}
    # Reads the table, sends to the queue; no write to the table, no secrets.
    assert _policy_kinds("CallEventsFunction") == ["DynamoDBReadPolicy", "SQSSendMessagePolicy"]
    assert fn["Environment"]["Variables"]["OUTCOMES_QUEUE_URL"] == {"Ref": "OutcomesQueue"}


def test_call_outcomes_consumes_the_queue_with_partial_batch_failures() -> None:
    fn = _function("CallOutcomesFunction")
    [event] = fn["Events"].values()
    assert event["Type"] == "SQS" and event["Properties"]["Queue"] == {"Fn::GetAtt": "OutcomesQueue.Arn"}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # The slowest job of a batch (a finish job: its analysis asked twice, or one delivery) times the
    # batch size must fit in the timeout, or the whole batch is received again and its events resent.
    slowest = max(2 * ANALYSIS_REQUEST_TIMEOUT_SECONDS, DELIVERY_TIMEOUT_SECONDS) + 10
    assert event["Properties"]["BatchSize"] * slowest <= fn["Timeout"]
    env = fn["Environment"]["Variables"]
    assert env["WEBHOOK_DLQ_URL"] == {"Ref": "OutcomesDeadLetterQueue"}
    assert env["WEBHOOK_SECRET_ARN"] == {"Ref": "WebhookSigningSecret"}
    assert "WEBHOOK_SIGNING_SECRET" not in env  # the key itself never sits in the environment
    policies = fn["Policies"]
    sends = sorted(
        p["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"] for p in policies if "SQSSendMessagePolicy" in p
    )
    assert sends == ["OutcomesDeadLetterQueue.QueueName", "OutcomesQueue.QueueName"]
    secrets = [
        p["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]
        for p in policies
        if "AWSSecretsManagerGetSecretValuePolicy" in p
    ]
    assert {"Ref": "WebhookSigningSecret"} in secrets and len(secrets) == 2
    assert not any("DynamoDB" in next(iter(p)) for p in policies)  # inline statements: test_least_privilege


def test_webhooks_are_https_only_in_aws() -> None:
    from tests.unit.deploy.test_template import TEMPLATE

    assert (
        TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["WEBHOOK_ALLOW_LOOPBACK_HTTP"] == "false"
    )
    secret = RESOURCES["WebhookSigningSecret"]["Properties"]
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
