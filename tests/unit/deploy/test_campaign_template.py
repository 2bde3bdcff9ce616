"""The campaign engine's AWS wiring in template.yaml: queue, dead-letter queue, schedule and IAM."""

from __future__ import annotations

from typing import Any

from tests.unit.deploy.test_template import RESOURCES, TEMPLATE


def _function(name: str) -> dict[str, Any]:
    resource = RESOURCES[name]
    assert resource["Type"] == "AWS::Serverless::Function"
    return dict(resource["Properties"])


def _policy_names(function: dict[str, Any]) -> dict[str, Any]:
    return {
        next(iter(p)): next(iter(p.values())) for p in function.get("Policies", []) if isinstance(p, dict)
    }


def test_queue_redrives_to_a_dead_letter_queue_and_outlasts_the_dialer() -> None:
    queue = RESOURCES["CampaignQueue"]["Properties"]
    dlq = RESOURCES["CampaignDeadLetterQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": "CampaignDeadLetterQueue.Arn"}
    assert 1 < queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    dialer = _function("CampaignDialerFunction")
    # AWS: a Lambda event source needs a visibility timeout of at least six times the function's timeout.
    assert queue["VisibilityTimeout"] >= 6 * dialer["Timeout"]
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    alarm = RESOURCES["CampaignDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": "CampaignDeadLetterQueue.QueueName"}
    assert alarm["Threshold"] == 1 and alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_dialer_reads_the_queue_with_partial_batch_failures_and_bounded_concurrency() -> None:
    dialer = _function("CampaignDialerFunction")
    (event,) = dialer["Events"].values()
    assert event["Type"] == "SQS"
    props = event["Properties"]
    assert props["Queue"] == {"Fn::GetAtt": "CampaignQueue.Arn"}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] <= 10
    assert props["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "CampaignDialerConcurrency"}
    assert TEMPLATE["Parameters"]["CampaignDialerConcurrency"]["MinValue"] == 2  # the SQS minimum
    # It needs the Twilio secret to dial and an absolute webhook base (no request to derive it from).
    policies = _policy_names(dialer)
    assert set(policies) == {"DynamoDBCrudPolicy", "AWSSecretsManagerGetSecretValuePolicy"}
    assert "PUBLIC_API_URL" in dialer["Environment"]["Variables"]


def test_scheduler_runs_every_minute_on_eventbridge_scheduler() -> None:
    scheduler = _function("CampaignSchedulerFunction")
    (event,) = scheduler["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert scheduler["Timeout"] <= 60  # one pass ends before the next starts
    assert scheduler["ReservedConcurrentExecutions"] == 1


def test_only_the_scheduler_and_the_status_webhook_may_send_to_the_queue() -> None:
    campaign_queue = {"QueueName": {"Fn::GetAtt": "CampaignQueue.QueueName"}}
    senders = {
        name
        for name, resource in RESOURCES.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and _policy_names(resource["Properties"]).get("SQSSendMessagePolicy") == campaign_queue
    }
    assert senders == {"CampaignSchedulerFunction", "TwilioStatusFunction"}
    for name in senders:
        # The senders, and only they, are told where the queue is.
        assert _function(name)["Environment"]["Variables"]["CAMPAIGN_QUEUE_URL"] == {"Ref": "CampaignQueue"}
    assert "CAMPAIGN_QUEUE_URL" not in TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]


def test_campaign_api_has_time_to_store_ten_thousand_recipients() -> None:
    api = _function("CampaignsFunction")
    assert api["Timeout"] >= 30
    assert set(_policy_names(api)) == {"DynamoDBCrudPolicy"}  # it never dials or queues
