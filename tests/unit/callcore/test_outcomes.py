"""After the call: which changes start jobs, the finish job (usage, cost, analysis, events) and
webhook delivery attempts against a real HTTP receiver (retries, final 4xx, giving up)."""

from __future__ import annotations

import asyncio
import http.server
import json
import ssl
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from callcore.analysis import ModelReply, OfflineModel
from callcore.delivery import DeliveryOutcome, PostResult, attempt_delivery, post_signed
from callcore.models import CallRecord, CallStatus, TranscriptTurn
from callcore.outcomes import (
    FinishJob,
    WebhookJob,
    event_id_for,
    finish_call,
    job_from_message,
    triggers_for_change,
)
from callcore.pricing import PriceTable, cost_of
from callcore.repository import CallRepository
from callcore.twilio_errors import update_refusal
from callcore.webhooks import RetryPolicy, verify_signature

from local.webhook_receiver import WebhookReceiver
from tests.factories import call_record, persona

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SECRET = "test-webhook-secret-0123456789"
ANALYSIS = {
    "summary": True,
    "data": {"type": "object", "properties": {"confirmed": {"type": "boolean"}}, "required": ["confirmed"]},
    "success": "The callee confirmed.",
}


def _record(status: CallStatus, **fields: Any) -> CallRecord:
    return call_record(status=status, at="2026-11-30T11:59:00.000Z", **fields)


def test_triggers() -> None:
    hooked = {"webhook_url": "http://127.0.0.1:1/h"}
    ringing, live = _record(CallStatus.RINGING, **hooked), _record(CallStatus.IN_PROGRESS, **hooked)
    assert triggers_for_change(ringing, live) == ["call.started"]
    assert triggers_for_change(live, live) == []
    done = _record(CallStatus.COMPLETED, **hooked)
    assert triggers_for_change(live, done) == ["finish"]
    assert triggers_for_change(done, replace(done, analysis={"summary": "x"})) == []
    assert triggers_for_change(_record(CallStatus.RINGING), _record(CallStatus.IN_PROGRESS)) == []  # no URL
    assert triggers_for_change(None, _record(CallStatus.FAILED)) == ["finish"]  # refused at dial


def test_jobs_survive_the_queue() -> None:
    job = WebhookJob(
        "c1", "evt_1", "call.ended", "http://x", '{"a":1}', created_at=1.0, attempts=2, not_before=9.0
    )
    assert job_from_message(job.to_message()) == job
    assert job_from_message(FinishJob("c1").to_message()) == FinishJob("c1")
    assert (
        event_id_for("c1", "call.ended")
        == event_id_for("c1", "call.ended")
        != event_id_for("c1", "call.analyzed")
    )


def test_cost_from_the_price_table() -> None:
    usage = {
        "stt_seconds": 60,
        "llm_input_tokens": 1_000_000,
        "llm_output_tokens": 0,
        "tts_characters": 2000,
        "twilio_minutes": 2,
    }
    prices = PriceTable.from_env({"PRICE_TWILIO_PER_MINUTE": "0.02"})
    cost = cost_of(usage, prices)
    assert cost["twilio"] == 0.04 and cost["llm"] == 0.35 and cost["tts"] == 0.1
    assert cost["stt"] == round(60 / 3600 * 0.39, 4)
    assert cost["total"] == round(0.04 + 0.35 + 0.1 + 60 / 3600 * 0.39, 4)


def _seed(table: Any, *, status: CallStatus, error: dict[str, Any] | None = None) -> CallRepository:
    repo = CallRepository(table)
    repo.put_persona(persona(analysis=ANALYSIS))
    repo.create_call(
        _record(
            status,
            webhook_url="http://127.0.0.1:9/hooks",
            duration_seconds=61,
            usage={
                "stt_seconds": 30.5,
                "llm_input_tokens": 900,
                "llm_output_tokens": 120,
                "tts_characters": 340,
            },
            error=error,
        )
    )
    for index, (role, text) in enumerate(
        [("assistant", "Can you come at 10?"), ("caller", "Yes, that works.")]
    ):
        repo.put_turn(
            "c1", TranscriptTurn(index=index, role=role, text=text, started_at=index, ended_at=index + 1)
        )  # type: ignore[arg-type]
    return repo


def test_finish_writes_usage_cost_analysis_and_returns_the_events(ddb_table: Any) -> None:
    repo = _seed(ddb_table, status=CallStatus.COMPLETED)
    jobs = finish_call(repo, "c1", model=OfflineModel(), prices=PriceTable(), now=lambda: NOW)
    assert [j.event_type for j in jobs] == ["call.ended", "call.analyzed"]
    record = repo.get_call("c1")
    assert record is not None and record.usage is not None and record.cost_usd is not None
    assert record.usage["twilio_minutes"] == 2 and record.usage["tts_characters"] == 340
    assert record.cost_usd["total"] > 0 and set(record.cost_usd) == {"twilio", "stt", "llm", "tts", "total"}
    assert record.analysis is not None and record.analysis["data"] == {"confirmed": True}
    analyzed = json.loads(jobs[1].body)
    assert analyzed["type"] == "call.analyzed" and analyzed["call"]["analysis"]["data"] == {"confirmed": True}
    assert [t["text"] for t in json.loads(jobs[0].body)["call"]["turns"]] == [
        "Can you come at 10?",
        "Yes, that works.",
    ]
    # A second run (SQS delivers at least once) repeats the same events and keeps the analysis.
    again = finish_call(repo, "c1", model=OfflineModel(), prices=PriceTable(), now=lambda: NOW)
    assert [j.event_id for j in again] == [j.event_id for j in jobs]


class _CountingModel:
    """Answers like the offline extractor, but reports the tokens a hosted model would bill."""

    def complete_json(self, system: str, user: str, schema: Any) -> ModelReply:
        reply = OfflineModel().complete_json(system, user, schema)
        return ModelReply(reply.text, "gpt-oss-120b", input_tokens=2_000_000, output_tokens=1_000_000)


def test_the_analysis_models_tokens_are_priced_too(ddb_table: Any) -> None:
    repo = _seed(ddb_table, status=CallStatus.COMPLETED)
    prices = PriceTable()
    finish_call(repo, "c1", model=_CountingModel(), prices=prices, now=lambda: NOW)
    record = repo.get_call("c1")
    assert record is not None and record.usage is not None and record.cost_usd is not None
    assert record.usage["analysis_input_tokens"] == 2_000_000
    assert record.usage["analysis_output_tokens"] == 1_000_000
    analysis_cost = 2 * prices.llm_input_per_million + prices.llm_output_per_million
    assert record.cost_usd["analysis"] == round(analysis_cost, 4)
    assert record.cost_usd["total"] == round(sum(v for k, v in record.cost_usd.items() if k != "total"), 4)
    # A second run (SQS delivers at least once) keeps the analysis and its priced tokens.
    finish_call(repo, "c1", model=_CountingModel(), prices=prices, now=lambda: NOW)
    again = repo.get_call("c1")
    assert again is not None and again.cost_usd == record.cost_usd and again.usage == record.usage


def test_a_failed_call_sends_call_failed_with_the_error(ddb_table: Any) -> None:
    error = {"code": "busy", "message": "The line was busy.", "source": "call"}
    repo = _seed(ddb_table, status=CallStatus.BUSY, error=error)
    jobs = finish_call(repo, "c1", model=OfflineModel(), prices=PriceTable(), now=lambda: NOW)
    failed = json.loads(jobs[0].body)
    assert failed["type"] == "call.failed" and failed["call"]["error"] == error


def test_a_refused_transfer_is_in_the_ended_event_and_is_not_a_failure(ddb_table: Any) -> None:
    """The call went on after Twilio refused its transfer: ``call.ended`` (not ``call.failed``),
    carrying ``update_error`` and the ``update`` event of the status history."""
    repo = _seed(ddb_table, status=CallStatus.COMPLETED)
    refusal = update_refusal(
        "transfer", "21220", "Call is not in-progress. Cannot redirect.", "update", at="2026-11-30T11:59:30Z"
    )
    repo.record_update_refusal("c1", refusal)
    jobs = finish_call(repo, "c1", model=OfflineModel(), prices=PriceTable(), now=lambda: NOW)
    ended = json.loads(jobs[0].body)
    assert ended["type"] == "call.ended" and "error" not in ended["call"]
    assert ended["call"]["update_error"] == refusal
    update_events = [e for e in ended["call"]["status_history"] if e["kind"] == "update"]
    assert update_events == [
        {
            "kind": "update",
            "at": "2026-11-30T11:59:30Z",
            "status": "refused",
            "detail": {
                "update": "transfer",
                "source": "update",
                "code": "21220",
                "message": refusal["message"],
            },
        }
    ]


def _post(job: WebhookJob) -> PostResult:
    """The real signed POST (loopback http allowed, for the local receiver)."""
    return post_signed(job.url, job.body.encode(), SECRET, allow_loopback_http=True)


def _attempt(
    job: WebhookJob, repo: CallRepository, *, now: float = NOW.timestamp(), policy: RetryPolicy | None = None
) -> DeliveryOutcome:
    """One delivery attempt of ``job`` through the real signed POST, recorded as made at "t"."""
    return attempt_delivery(job, repo=repo, post=_post, policy=policy or RetryPolicy(), now=now, at="t")


def _job(url: str) -> WebhookJob:
    return WebhookJob("c1", "evt_x", "call.ended", url, '{"id":"evt_x"}', created_at=NOW.timestamp())


async def test_delivery_retries_a_failing_receiver_and_records_attempts(ddb_table: Any) -> None:
    repo = _seed(ddb_table, status=CallStatus.COMPLETED)
    async with WebhookReceiver(SECRET) as receiver:
        receiver.fail_next(2, status=503)
        job = _job(receiver.url)
        states = []
        now = NOW.timestamp()
        while True:
            outcome = await asyncio.to_thread(
                _attempt, job, repo, now=now, policy=RetryPolicy(first_delay_seconds=1)
            )
            states.append(outcome.state)
            if outcome.next_job is None:
                break
            assert outcome.next_job.not_before > now
            job, now = outcome.next_job, outcome.next_job.not_before
        assert states == ["retrying", "retrying", "delivered"]
        assert [e.answered for e in receiver.received] == [503, 503, 200]
        assert all(e.signature_valid for e in receiver.received)
        record = repo.get_call("c1")
        assert record is not None
        [entry] = record.to_json()["webhook_deliveries"]
        assert entry == {
            "id": "evt_x",
            "event": "call.ended",
            "attempts": 3,
            "state": "delivered",
            "last_status": 200,
            "last_attempt_at": "t",
        }


async def test_final_4xx_is_not_retried_and_a_dead_receiver_is_given_up(ddb_table: Any) -> None:
    repo = _seed(ddb_table, status=CallStatus.COMPLETED)
    async with WebhookReceiver(SECRET) as receiver:
        receiver.fail_next(1, status=410)
        job = _job(receiver.url)
        outcome = await asyncio.to_thread(_attempt, job, repo)
        assert outcome.state == "rejected" and outcome.next_job is None and len(receiver.received) == 1
        # 408 and 429 are retried like 5xx.
        for status in (408, 429):
            receiver.fail_next(1, status=status)
            retry = await asyncio.to_thread(_attempt, job, repo)
            assert retry.state == "retrying"
    # Nobody listens any more: after the retry window the delivery is given up (dead-letter queue).
    dead = _job("http://127.0.0.1:9/hooks")
    late = dead.created_at + 24 * 3600 - 10
    outcome = _attempt(replace(dead, attempts=30), repo, now=late)
    assert outcome.state == "failed" and outcome.next_job is None
    record = repo.get_call("c1")
    assert record is not None and record.webhook_deliveries["evt_x"]["state"] == "failed"


def test_the_receiver_checks_what_we_sign() -> None:
    body = b'{"id":"evt"}'
    from callcore.webhooks import signature_header

    header = signature_header(SECRET, int(NOW.timestamp()), body)
    assert verify_signature(SECRET, header, body, now=NOW.timestamp() + 5)


def test_refused_urls_are_not_retried(ddb_table: Any) -> None:
    repo = _seed(ddb_table, status=CallStatus.COMPLETED)
    job = _job("http://10.0.0.7/hooks")
    outcome = _attempt(job, repo)
    assert outcome.state == "rejected"
    record = repo.get_call("c1")
    assert record is not None and "refused" in record.webhook_deliveries["evt_x"]["last_error"]


def test_a_huge_transcript_is_left_out_of_the_event(ddb_table: Any) -> None:
    repo = _seed(ddb_table, status=CallStatus.COMPLETED)
    for index in range(2, 400):
        turn = TranscriptTurn(
            index=index, role="caller", text="x" * 600, started_at=index, ended_at=index + 1
        )
        repo.put_turn("c1", turn)
    [ended, _] = finish_call(repo, "c1", model=OfflineModel(), prices=PriceTable(), now=lambda: NOW)
    body = json.loads(ended.body)
    assert len(ended.body) < 200_000 and body["call"]["turns"] == [] and body["call"]["turns_omitted"] == 400


def test_https_delivery_checks_the_receivers_certificate_for_its_host(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AWS path, for real: TLS to the approved address, certificate checked for the URL's host."""
    cert, key = _self_signed(tmp_path, "localhost")
    received: list[tuple[str, str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.path, self.headers.get("Host", ""), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert, key)
    server.socket = serving.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        # Not trusted (a self-signed certificate): refused, and retried like any failed connection.
        untrusted = post_signed(f"https://localhost:{port}/hooks", b"{}", SECRET, allow_loopback_http=True)
        assert untrusted.status is None and untrusted.error and "CERTIFICATE_VERIFY_FAILED" in untrusted.error
        trusting = ssl.create_default_context(cafile=str(cert))
        monkeypatch.setattr("callcore.delivery._TLS", trusting)
        ok = post_signed(
            f"https://localhost:{port}/hooks?x=1", b'{"id":"e"}', SECRET, allow_loopback_http=True
        )
        assert ok.status == 204 and ok.error is None
        assert received == [("/hooks?x=1", f"localhost:{port}", b'{"id":"e"}')]
    finally:
        server.shutdown()
        server.server_close()


def _self_signed(directory: Any, host: str) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
