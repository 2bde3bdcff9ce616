"""Lambda event sources on the local stack, read from template.yaml: SQS queues and the table stream.

For every ``AWS::SQS::Queue`` in the template this creates the queue in moto (dead-letter queues
first, with the template's redrive policy), and for every environment variable a function sets with
``!Ref <Queue>`` it exports the local queue URL, so the handlers (which run in this process) find
their queues. Then, for every function event of ``Type: SQS`` or ``Type: DynamoDB``, a poller feeds
the real handler the event Lambda would send: SQS records with ``batchItemFailures`` honoured (the
failed messages stay for a redelivery), and the table's stream records in order. There is no other
list of event sources: change the template, and this follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from local.api_gateway import LambdaContext
from local.storage import FAKE_AWS_ENV
from local.template import function_environment, load_template

__all__ = ["EventSource", "LocalEventSources", "event_sources", "queue_definitions"]

log = logging.getLogger("local.events")

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class EventSource:
    function_id: str
    kind: str  # "SQS" | "DynamoDB"
    target: str  # queue logical id, or table logical id
    code_dir: Path
    module: str
    function: str
    batch_size: int
    timeout_seconds: int
    environment: dict[str, str] = field(default_factory=dict)


def _ref_target(value: Any) -> str | None:
    """``!GetAtt X.Arn`` / ``!GetAtt X.StreamArn`` / ``!Ref X`` (read in their long form) → ``X``."""
    if isinstance(value, dict) and len(value) == 1:
        tag, inner = next(iter(value.items()))
        if tag == "Fn::GetAtt":
            return str(inner).split(".")[0] if isinstance(inner, str) else str(inner[0])
        if tag == "Ref":
            return str(inner)
    return None


def event_sources(template: dict[str, Any], root: Path) -> list[EventSource]:
    """Every SQS and DynamoDB stream event of every function in the template."""
    global_function = (template.get("Globals") or {}).get("Function") or {}
    sources = []
    for function_id, resource in template["Resources"].items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties") or {}
        module, _, function = str(properties.get("Handler", "")).rpartition(".")
        timeout = properties.get("Timeout", global_function.get("Timeout", 3))
        for event in (properties.get("Events") or {}).values():
            kind = event.get("Type")
            if kind not in ("SQS", "DynamoDB"):
                continue
            props = event.get("Properties") or {}
            target = _ref_target(props.get("Queue" if kind == "SQS" else "Stream"))
            if target is None:
                continue
            sources.append(
                EventSource(
                    function_id=function_id,
                    kind=kind,
                    target=target,
                    code_dir=(root / str(properties.get("CodeUri"))).resolve(),
                    module=module,
                    function=function,
                    batch_size=int(props.get("BatchSize", 10)),
                    timeout_seconds=int(timeout),
                    environment=function_environment(template, properties),
                )
            )
    return sources


def queue_definitions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Queue logical id → its Properties."""
    return {
        name: resource.get("Properties") or {}
        for name, resource in template["Resources"].items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::SQS::Queue"
    }


def queue_env_names(template: dict[str, Any]) -> dict[str, str]:
    """Environment variable → queue logical id, for every ``VAR: !Ref <Queue>`` of any function."""
    queues = queue_definitions(template)
    names: dict[str, str] = {}
    for resource in template["Resources"].values():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        variables = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        for name, value in variables.items():
            target = _ref_target(value)
            if target in queues and isinstance(value, dict) and "Ref" in value:
                names[name] = target
    return names


def _load_handler(source: EventSource) -> Handler:
    path = source.code_dir / f"{source.module.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"lambda_{source.function_id}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{source.function_id}: no handler at {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    previous = os.environ.get("POWERTOOLS_SERVICE_NAME")
    for key, value in source.environment.items():
        if key not in os.environ or key == "POWERTOOLS_SERVICE_NAME":
            os.environ[key] = value
    try:
        spec.loader.exec_module(module)
    finally:
        if previous is None:
            os.environ.pop("POWERTOOLS_SERVICE_NAME", None)
        else:
            os.environ["POWERTOOLS_SERVICE_NAME"] = previous
    handler: Handler = getattr(module, source.function)
    return handler


class LocalEventSources:
    """Creates the template's queues in moto and runs one poller per event source."""

    def __init__(
        self, template_path: Path, *, endpoint: str, table_name: str, poll_seconds: float = 0.2
    ) -> None:
        self.template = load_template(template_path)
        self.root = template_path.parent
        self.endpoint = endpoint
        self.table_name = table_name
        self.poll_seconds = poll_seconds
        self.queue_urls: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._lock = threading.Lock()

    def _client(self, service: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=FAKE_AWS_ENV["AWS_REGION"],
            aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )

    def create_queues(self) -> dict[str, str]:
        """Create every queue (dead-letter targets first); returns env var → queue URL."""
        sqs = self._client("sqs")
        definitions = queue_definitions(self.template)
        arns: dict[str, str] = {}

        def create(name: str) -> None:
            if name in self.queue_urls:
                return
            props = definitions[name]
            attributes: dict[str, str] = {}
            redrive = props.get("RedrivePolicy")
            if isinstance(redrive, dict):
                target = _ref_target(redrive.get("deadLetterTargetArn"))
                if target in definitions:
                    create(target)
                    attributes["RedrivePolicy"] = (
                        f'{{"deadLetterTargetArn": "{arns[target]}", '
                        f'"maxReceiveCount": "{redrive.get("maxReceiveCount", 5)}"}}'
                    )
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            self.queue_urls[name] = url
            arns[name] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]

        for name in definitions:
            create(name)
        return {var: self.queue_urls[queue] for var, queue in queue_env_names(self.template).items()}

    async def start(self) -> None:
        for source in event_sources(self.template, self.root):
            handler = await asyncio.to_thread(_load_handler, source)
            if source.kind == "SQS":
                runner = self._poll_queue(source, handler)
            else:
                runner = self._poll_stream(source, handler)
            self._tasks.append(asyncio.create_task(runner, name=f"events-{source.function_id}"))
            log.info("%s <- %s %s", source.function_id, source.kind, source.target)

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def _invoke(self, source: EventSource, handler: Handler, event: dict[str, Any]) -> Any:
        with self._lock:  # one invocation at a time per stack, like one warm container each
            return handler(event, LambdaContext(source.function_id, source.timeout_seconds))

    async def _poll_queue(self, source: EventSource, handler: Handler) -> None:
        sqs = self._client("sqs")
        url = self.queue_urls[source.target]
        while not self._stopping.is_set():
            try:
                received = await asyncio.to_thread(
                    sqs.receive_message,
                    QueueUrl=url,
                    MaxNumberOfMessages=min(source.batch_size, 10),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                )
                messages = received.get("Messages", [])
                if not messages:
                    continue
                event = {
                    "Records": [
                        {
                            "messageId": m["MessageId"],
                            "receiptHandle": m["ReceiptHandle"],
                            "body": m["Body"],
                            "attributes": m.get("Attributes", {}),
                            "eventSource": "aws:sqs",
                        }
                        for m in messages
                    ]
                }
                result = await asyncio.to_thread(self._invoke, source, handler, event)
                failed = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
                for m in messages:
                    if m["MessageId"] not in failed:
                        await asyncio.to_thread(
                            sqs.delete_message, QueueUrl=url, ReceiptHandle=m["ReceiptHandle"]
                        )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: polling %s failed", source.function_id, source.target)
                await asyncio.sleep(1)

    async def _poll_stream(self, source: EventSource, handler: Handler) -> None:
        ddb = self._client("dynamodb")
        streams = self._client("dynamodbstreams")
        arn = (await asyncio.to_thread(ddb.describe_table, TableName=self.table_name))["Table"][
            "LatestStreamArn"
        ]
        description = await asyncio.to_thread(streams.describe_stream, StreamArn=arn)
        iterators = []
        for shard in description["StreamDescription"]["Shards"]:
            response = await asyncio.to_thread(
                streams.get_shard_iterator,
                StreamArn=arn,
                ShardId=shard["ShardId"],
                ShardIteratorType="LATEST",
            )
            iterators.append(response["ShardIterator"])
        while not self._stopping.is_set():
            try:
                for index, iterator in enumerate(iterators):
                    page = await asyncio.to_thread(
                        streams.get_records, ShardIterator=iterator, Limit=source.batch_size
                    )
                    iterators[index] = page.get("NextShardIterator") or iterator
                    records = page.get("Records", [])
                    if records:
                        event = {"Records": [{**r, "eventSource": "aws:dynamodb"} for r in records]}
                        await asyncio.to_thread(self._invoke, source, handler, event)
                await asyncio.sleep(self.poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: reading the table stream failed", source.function_id)
                await asyncio.sleep(1)
