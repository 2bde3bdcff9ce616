"""Process configuration read once from environment variables.

Every default makes the local stack work with no configuration and no accounts; production sets
the variables in template.yaml / the ECS task. Nothing here reaches the network.

Local exception to ``wss://``: Twilio only dials ``wss://`` stream URLs, so a ``ws://`` URL is
accepted only when its host is a loopback address (``localhost``, ``127.0.0.0/8``, ``::1``), where
the local Twilio emulator is the only possible client. Anything else raises ``SettingsError``.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "DEV_STREAM_TOKEN_SECRET",
    "DEV_TWILIO_ACCOUNT_SID",
    "DEV_TWILIO_AUTH_TOKEN",
    "DEV_WEBHOOK_SIGNING_SECRET",
    "NUMBER_TYPES",
    "SECRET_FIELDS",
    "Settings",
    "SettingsError",
    "is_loopback_host",
    "validate_stream_url",
]

# Dev-only credentials: fixed so the local stack, the emulator and tests agree without setup.
# They authenticate nothing real (Twilio is unreachable from the local stack).
DEV_TWILIO_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEV_TWILIO_AUTH_TOKEN = "dev-only-twilio-auth-token"  # noqa: S105 - documented local default
DEV_STREAM_TOKEN_SECRET = "dev-only-stream-token-secret"  # noqa: S105 - documented local default
DEV_WEBHOOK_SIGNING_SECRET = "dev-only-webhook-signing-secret"  # noqa: S105 - documented local default


# The number types ``callcore.phone`` classifies (named after phonenumbers' PhoneNumberType).
NUMBER_TYPES = (
    "fixed_line",
    "mobile",
    "fixed_line_or_mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "unknown",
)


# Fields whose values are credentials: never printed (repr), never logged.
SECRET_FIELDS = frozenset(
    {
        "twilio_auth_token",
        "twilio_webhook_shared_keys",
        "stream_token_secret",
        "local_api_key",
        "elevenlabs_api_key",
        "cerebras_api_key",
        "webhook_signing_secret",
    }
)


class SettingsError(ValueError):
    """A configuration value that would make calls fail or be unsafe."""


def is_loopback_host(host: str | None) -> bool:
    """True for hosts that can only be reached from this machine."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_stream_url(url: str) -> str:
    """Check a Media Streams URL the way Twilio will use it, and return it unchanged.

    Twilio ignores or rejects query strings on ``<Stream url>`` (error 31920), so per-call data
    goes in ``<Parameter>`` and a ``?`` here is a configuration error, not something to strip.
    """
    parts = urlsplit(url)
    if parts.query or "?" in url or parts.fragment:
        raise SettingsError(f"stream URL must not carry a query string or fragment: {url!r}")
    if not parts.hostname:
        raise SettingsError(f"stream URL has no host: {url!r}")
    if parts.scheme == "wss":
        return url
    if parts.scheme == "ws" and is_loopback_host(parts.hostname):
        return url
    raise SettingsError(f"stream URL must be wss:// (ws:// only on a loopback host): {url!r}")


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name)
    return default if value is None else value.strip()


def _optional(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """Absent → default; present but empty → None (an explicit "unset", e.g. derive from request)."""
    value = env.get(name)
    if value is None:
        return default
    return value.strip() or None


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = _text(env, name, "").lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _provider(env: Mapping[str, str], name: str, online: str, key: str | None) -> str:
    chosen = _text(env, name, "").lower()
    if chosen:
        if chosen not in (online, "offline"):
            raise SettingsError(f"{name} must be {online!r} or 'offline', got {chosen!r}")
        return chosen
    return online if key else "offline"


def _regions(raw: str) -> tuple[str, ...]:
    regions = tuple(r.strip().upper() for r in raw.split(",") if r.strip())
    for region in regions:
        if not (len(region) == 2 and region.isalpha()) and region != "001":
            raise SettingsError(
                f"DIAL_ALLOWED_REGIONS entries are ISO 3166 region codes or 001, got {region!r}"
            )
    return regions


def _number_types(raw: str) -> tuple[str, ...]:
    kinds = tuple(k.strip().lower() for k in raw.split(",") if k.strip())
    for kind in kinds:
        if kind not in NUMBER_TYPES:
            raise SettingsError(
                f"DIAL_ALLOWED_NUMBER_TYPES entries are one of {', '.join(NUMBER_TYPES)}, got {kind!r}"
            )
    return kinds


def _country_codes(raw: str) -> tuple[str, ...]:
    codes = tuple(code.strip().lstrip("+") for code in raw.split(",") if code.strip())
    for code in codes:
        if not code.isdigit() or not 1 <= len(code) <= 3:
            raise SettingsError(f"ALLOWED_COUNTRY_CODES entries are 1-3 digit calling codes, got {code!r}")
    return codes


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a process needs to know about its surroundings, as plain typed values."""

    table_name: str = "ai-phone-calls"
    dynamodb_endpoint: str | None = None
    aws_region: str = "us-east-1"

    twilio_account_sid: str = DEV_TWILIO_ACCOUNT_SID
    twilio_auth_token: str = DEV_TWILIO_AUTH_TOKEN
    twilio_secret_arn: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_from_number: str = "+15005550006"
    # Webhook Rules SharedKeys (key id, secret), see callcore.signatures; never printed.
    twilio_webhook_shared_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    # None means "rebuild from the request" (see callcore.signatures); the local default is set.
    public_api_url: str | None = "http://127.0.0.1:3000"
    stream_public_url: str = "ws://127.0.0.1:8080/media"
    stream_token_secret: str = DEV_STREAM_TOKEN_SECRET
    stream_token_ttl_seconds: int = 300

    allowed_country_codes: tuple[str, ...] = ("1",)
    dial_allowed_regions: tuple[str, ...] = ("CA",)
    dial_allowed_number_types: tuple[str, ...] = ()
    max_concurrent_calls_per_user: int = 3
    # Stale-call reconciler (functions/call_reconciler): calls examined per scheduled run.
    reconcile_batch_size: int = 25
    max_calls_per_day_per_user: int = 200
    max_call_minutes_per_day_per_user: int = 600
    inbound_persona_id: str = "receptionist"
    call_ttl_days: int = 90
    # Campaigns: the SQS queue the scheduler feeds and the dialer reads (moto locally, through
    # AWS_ENDPOINT_URL_SQS, which botocore reads itself).
    campaign_queue_url: str | None = None
    local_api_key: str = "local-dev-api-key"
    local_api_key_id: str = "local-user"

    stt_provider: str = "offline"
    llm_provider: str = "offline"
    tts_provider: str = "offline"
    elevenlabs_api_key: str | None = None
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    cerebras_api_key: str | None = None
    cerebras_base_url: str = "https://api.cerebras.ai"
    cerebras_model: str = "gpt-oss-120b"
    port: int = 8080
    api_port: int = 3000

    # What a call produces for the customer's system (callcore.outcomes, callcore.webhooks).
    outcomes_queue_url: str | None = None
    webhook_dead_letter_queue_url: str | None = None
    webhook_signing_secret: str = DEV_WEBHOOK_SIGNING_SECRET
    webhook_secret_arn: str | None = None
    provider_secret_arn: str | None = None
    webhook_allow_loopback_http: bool = False
    webhook_first_retry_seconds: int = 30
    webhook_retry_hours: int = 24
    call_finish_delay_seconds: int = 5

    def __post_init__(self) -> None:
        validate_stream_url(self.stream_public_url)

    def __repr__(self) -> str:
        """Every field, with the secrets shown only as set or unset: settings get logged."""
        shown = []
        for name, spec in self.__dataclass_fields__.items():
            value = getattr(self, name)
            if name in SECRET_FIELDS or not spec.repr:
                value = "***" if value else value
            shown.append(f"{name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the documented variables (the README's Configuration table); unknown variables are ignored."""
        e = os.environ if env is None else env
        eleven_key = _optional(e, "ELEVENLABS_API_KEY")
        cerebras_key = _optional(e, "CEREBRAS_API_KEY")
        return cls(
            table_name=_text(e, "TABLE_NAME", "ai-phone-calls") or "ai-phone-calls",
            dynamodb_endpoint=_optional(e, "DYNAMODB_ENDPOINT"),
            aws_region=_text(e, "AWS_REGION", _text(e, "AWS_DEFAULT_REGION", "us-east-1")) or "us-east-1",
            twilio_account_sid=_text(e, "TWILIO_ACCOUNT_SID", DEV_TWILIO_ACCOUNT_SID),
            twilio_auth_token=_text(e, "TWILIO_AUTH_TOKEN", DEV_TWILIO_AUTH_TOKEN),
            twilio_secret_arn=_optional(e, "TWILIO_SECRET_ARN"),
            twilio_api_base_url=(
                _text(e, "TWILIO_API_BASE_URL", "https://api.twilio.com") or "https://api.twilio.com"
            ).rstrip("/"),
            twilio_from_number=_text(e, "TWILIO_FROM_NUMBER", "+15005550006"),
            twilio_webhook_shared_keys=_shared_keys(e),
            public_api_url=_strip_slash(_optional(e, "PUBLIC_API_URL", "http://127.0.0.1:3000")),
            stream_public_url=_text(e, "STREAM_PUBLIC_URL", "ws://127.0.0.1:8080/media"),
            stream_token_secret=_text(e, "STREAM_TOKEN_SECRET", DEV_STREAM_TOKEN_SECRET),
            stream_token_ttl_seconds=_int(e, "STREAM_TOKEN_TTL_SECONDS", 300, minimum=10),
            allowed_country_codes=_country_codes(_text(e, "ALLOWED_COUNTRY_CODES", "1")),
            dial_allowed_regions=_regions(_text(e, "DIAL_ALLOWED_REGIONS", "CA")),
            dial_allowed_number_types=_number_types(_text(e, "DIAL_ALLOWED_NUMBER_TYPES", "")),
            max_concurrent_calls_per_user=_int(e, "MAX_CONCURRENT_CALLS_PER_USER", 3, minimum=1),
            reconcile_batch_size=_int(e, "RECONCILE_BATCH_SIZE", 25, minimum=1),
            max_calls_per_day_per_user=_int(e, "MAX_CALLS_PER_DAY_PER_USER", 200, minimum=0),
            max_call_minutes_per_day_per_user=_int(e, "MAX_CALL_MINUTES_PER_DAY_PER_USER", 600, minimum=0),
            inbound_persona_id=_text(e, "INBOUND_PERSONA_ID", "receptionist") or "receptionist",
            call_ttl_days=_int(e, "CALL_TTL_DAYS", 90, minimum=1),
            campaign_queue_url=_optional(e, "CAMPAIGN_QUEUE_URL"),
            local_api_key=_text(e, "LOCAL_API_KEY", "local-dev-api-key"),
            local_api_key_id=_text(e, "LOCAL_API_KEY_ID", "local-user") or "local-user",
            stt_provider=_provider(e, "STT_PROVIDER", "elevenlabs", eleven_key),
            llm_provider=_provider(e, "LLM_PROVIDER", "cerebras", cerebras_key),
            tts_provider=_provider(e, "TTS_PROVIDER", "elevenlabs", eleven_key),
            elevenlabs_api_key=eleven_key,
            elevenlabs_base_url=(_text(e, "ELEVENLABS_BASE_URL", "") or "https://api.elevenlabs.io").rstrip(
                "/"
            ),
            cerebras_api_key=cerebras_key,
            cerebras_base_url=(_text(e, "CEREBRAS_BASE_URL", "") or "https://api.cerebras.ai").rstrip("/"),
            cerebras_model=_text(e, "CEREBRAS_MODEL", "") or "gpt-oss-120b",
            port=_int(e, "PORT", 8080, minimum=1),
            api_port=_int(e, "API_PORT", 3000, minimum=1),
            outcomes_queue_url=_optional(e, "OUTCOMES_QUEUE_URL"),
            webhook_dead_letter_queue_url=_optional(e, "WEBHOOK_DLQ_URL"),
            webhook_signing_secret=_text(e, "WEBHOOK_SIGNING_SECRET", "") or DEV_WEBHOOK_SIGNING_SECRET,
            webhook_secret_arn=_optional(e, "WEBHOOK_SECRET_ARN"),
            provider_secret_arn=_optional(e, "PROVIDER_SECRET_ARN"),
            webhook_allow_loopback_http=_flag(e, "WEBHOOK_ALLOW_LOOPBACK_HTTP"),
            webhook_first_retry_seconds=_int(e, "WEBHOOK_FIRST_RETRY_SECONDS", 30, minimum=1),
            webhook_retry_hours=_int(e, "WEBHOOK_RETRY_HOURS", 24, minimum=1),
            call_finish_delay_seconds=_int(e, "CALL_FINISH_DELAY_SECONDS", 5, minimum=0),
        )


def _shared_keys(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    from callcore.signatures import parse_shared_keys

    raw = env.get("TWILIO_WEBHOOK_SHARED_KEYS")
    secret_json = env.get("TWILIO_SECRET_JSON")
    if not raw and secret_json:
        # ECS injects the whole Twilio secret (its webhook_shared_keys is optional, and ECS cannot
        # inject a JSON key that may be missing); the Lambdas read the secret itself.
        try:
            secret = json.loads(secret_json)
        except ValueError:
            raise SettingsError("TWILIO_SECRET_JSON is not JSON") from None  # never echo it
        raw = str(secret.get("webhook_shared_keys") or "") if isinstance(secret, dict) else ""
    try:
        return parse_shared_keys(raw)
    except ValueError as error:
        raise SettingsError(str(error)) from None


def _strip_slash(url: str | None) -> str | None:
    return url.rstrip("/") if url else url
