"""Local DynamoDB: moto in server mode, with the table template.yaml defines and example personas.

A real HTTP endpoint (not an in-process mock) so that every process of the local stack - the API
handlers, the stream host subprocess, the demo - talks to the same data through plain boto3 with
`DYNAMODB_ENDPOINT`, exactly as they talk to DynamoDB in the cloud.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from local.template import TemplateError, load_template, table_definitions

__all__ = ["LocalStorage", "create_table", "free_port", "seed_example_personas"]

log = logging.getLogger("local.storage")

# moto checks nothing, but boto3 insists on credentials and a region.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A port that is free now and that the kernel will not hand out as a client's source port.

    The local stack must know its ports before its servers start (each URL goes into the others'
    settings), so a port is chosen first and bound later. A port from the kernel's ephemeral range
    (what binding port 0 returns) can meanwhile become the source port of one of the stack's own
    outgoing connections, and the later bind then fails with EADDRINUSE; ports below that range are
    never used that way.
    """
    low, _ = _ephemeral_range()
    start = max(1024, min(20000, low - 10000))
    for port in random.sample(range(start, low), k=min(200, low - start)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dynamodb(endpoint: str) -> Any:
    return boto3.resource(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=FAKE_AWS_ENV["AWS_REGION"],
        aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def create_table(endpoint: str, template_path: Path, table_name: str) -> Any:
    """Create `table_name` from the template's (single) table definition; idempotent."""
    definitions = table_definitions(load_template(template_path))
    if len(definitions) != 1:
        raise TemplateError(f"expected one DynamoDB table in {template_path}, found {len(definitions)}")
    definition = definitions[0]
    resource = _dynamodb(endpoint)
    if table_name in resource.meta.client.list_tables()["TableNames"]:
        return resource.Table(table_name)
    table = resource.create_table(TableName=table_name, **definition.create_args)
    table.wait_until_exists()
    if definition.ttl_attribute:
        resource.meta.client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": definition.ttl_attribute, "Enabled": True},
        )
    log.info("table %s created from %s (%s)", table_name, template_path.name, definition.logical_id)
    return table


def seed_example_personas(table: Any, directory: Path) -> list[str]:
    """Store the example personas through the product's own validation (callcore.personas)."""
    from callcore.personas import seed_personas
    from callcore.repository import CallRepository

    return seed_personas(CallRepository(table), directory)


class _SerialMotoServer(ThreadedMotoServer):
    """moto in server mode, answering one request at a time.

    moto's models are not thread-safe: with the table's stream on, every write serialises the
    whole item into a stream record, so two writes to one call record at the same moment (the
    stream host's summary and Twilio's stream-stopped callback) can meet mid-iteration and fail
    with a RuntimeError. DynamoDB itself has no such race, so the local stand-in must not either.
    """

    def _server_entry(self) -> None:  # moto 5.2: the same as its own, plus the lock
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def one_at_a_time(environ: Any, start_response: Any) -> Any:
            # DynamoDB only: an SQS long poll (every queue poller waits up to 1 s in moto) must not
            # hold the lock, or the pollers starve every table request (POST /calls timed out).
            if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB"):
                return app(environ, start_response)
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(
            self._ip_address, self._port, one_at_a_time, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


@dataclass
class LocalStorage:
    """moto's DynamoDB on 127.0.0.1, holding the template's table."""

    template_path: Path
    table_name: str
    personas_dir: Path | None
    port: int = 0
    _server: _SerialMotoServer | None = None
    endpoint: str = ""

    def start(self) -> str:
        port = self.port or free_port()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per DynamoDB request otherwise
        self._server = _SerialMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        table = create_table(self.endpoint, self.template_path, self.table_name)
        if self.personas_dir is not None and self.personas_dir.is_dir():
            seeded = seed_example_personas(table, self.personas_dir)
            log.info("seeded personas: %s", ", ".join(seeded))
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
