"""The dial policy: which numbers this deployment may ring, decided before anything is dialled.

An open dialer with paid voices is a toll-fraud target: attackers look for free calls to premium
rate lines, shared-cost lines and the international revenue-share (IRSF) ranges that pay them per
minute. The country calling code alone is not enough, because ``+1`` is shared by the US, Canada
and twenty-odd Caribbean countries whose "one-ring" area codes (876 Jamaica, 809 Dominican
Republic, 284 BVI, 649 Turks and Caicos, 473 Grenada, ...) are classic IRSF destinations, and
because +1 900 is premium rate. So a number is checked with Google's numbering metadata
(``phonenumbers``) on three axes, and each must pass:

1. its calling code is listed in ``ALLOWED_COUNTRY_CODES`` (default ``1``);
2. its *region* is the calling code's main region (US for ``1``, GB for ``44``) or is listed in
   ``DIAL_ALLOWED_REGIONS`` (default ``CA``). Non-geographic ranges (region ``001``: satellite
   +881, international networks +882/+883, ...) pass only when ``001`` is listed;
3. its *number type* is an ordinary line (fixed, mobile, either, toll-free, VoIP) or is listed in
   ``DIAL_ALLOWED_NUMBER_TYPES``. Premium rate, shared cost, personal numbers, pagers, UAN,
   voicemail access and unassigned ranges are refused by default.

``DialPolicy.check`` is the single entry point: the trigger, persona transfer numbers and any
dialer (campaigns) call it, so the rules cannot drift between paths. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import phonenumbers
from phonenumbers import PhoneNumberType

from callcore.logging import mask_phone

if TYPE_CHECKING:
    from callcore.settings import Settings

__all__ = [
    "DEFAULT_ALLOWED_NUMBER_TYPES",
    "NON_GEOGRAPHIC_REGION",
    "NUMBER_TYPE_NAMES",
    "DialPolicy",
    "DialVerdict",
    "PhoneNumberError",
    "calling_code",
    "is_e164",
    "mask_phone",
    "require_allowed_destination",
    "transfer_destination",
]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

# phonenumbers' own name for the regions of non-geographic calling codes (+800, +881, +882, ...).
NON_GEOGRAPHIC_REGION = "001"

NUMBER_TYPE_NAMES: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}

# Lines a person answers at ordinary rates. Everything else needs an explicit opt-in.
DEFAULT_ALLOWED_NUMBER_TYPES = frozenset(
    {"fixed_line", "mobile", "fixed_line_or_mobile", "toll_free", "voip"}
)


class PhoneNumberError(ValueError):
    """A number we must not dial; ``code`` is the API error code, ``status`` its HTTP status."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else (400 if code == "invalid_phone_number" else 403)


def is_e164(number: object) -> bool:
    """``+`` then 7 to 15 digits, first digit non-zero (ITU-T E.164; no spaces or punctuation)."""
    return isinstance(number, str) and bool(_E164.match(number))


def calling_code(number: str) -> str | None:
    """The country calling code of an E.164 number (``"1"``, ``"44"``, ``"881"``), or None."""
    try:
        return str(phonenumbers.parse(number, None).country_code)
    except phonenumbers.NumberParseException:
        return None


@dataclass(frozen=True)
class DialVerdict:
    """What the policy concluded about one number (``reason`` is None when it may be dialled)."""

    number: str
    region: str | None
    number_type: str
    reason: str | None = None
    code: str | None = None

    @property
    def allowed(self) -> bool:
        return self.reason is None


def _names(raw: Iterable[str]) -> frozenset[str]:
    return frozenset(item.strip() for item in raw if item.strip())


@dataclass(frozen=True)
class DialPolicy:
    """Which destinations may be dialled; build it with ``from_settings`` in product code."""

    country_codes: tuple[str, ...] = ("1",)
    extra_regions: frozenset[str] = field(default_factory=lambda: frozenset({"CA"}))
    extra_number_types: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> DialPolicy:
        """ALLOWED_COUNTRY_CODES, DIAL_ALLOWED_REGIONS and DIAL_ALLOWED_NUMBER_TYPES."""
        return cls(
            country_codes=settings.allowed_country_codes,
            extra_regions=_names(settings.dial_allowed_regions),
            extra_number_types=_names(settings.dial_allowed_number_types),
        )

    @property
    def number_types(self) -> frozenset[str]:
        return DEFAULT_ALLOWED_NUMBER_TYPES | self.extra_number_types

    def verdict(self, number: object) -> DialVerdict:
        """Classify ``number`` and say whether (and why not) it may be dialled. Never raises."""
        if not is_e164(number):
            return DialVerdict(
                number=str(number)[:32],
                region=None,
                number_type="unknown",
                reason="must be an E.164 number such as +14155550123",
                code="invalid_phone_number",
            )
        assert isinstance(number, str)
        parsed = phonenumbers.parse(number, None)
        region = phonenumbers.region_code_for_number(parsed)
        kind = NUMBER_TYPE_NAMES.get(phonenumbers.number_type(parsed), "unknown")
        masked = mask_phone(number)
        code = str(parsed.country_code)

        def refuse(reason: str, error: str = "destination_not_allowed") -> DialVerdict:
            return DialVerdict(number=number, region=region, number_type=kind, reason=reason, code=error)

        if code not in self.country_codes:
            allowed = ", ".join(f"+{c}" for c in self.country_codes) or "none"
            return refuse(f"{masked} is outside the allowed country codes ({allowed})")
        if region is None:
            return refuse(f"{masked} is not an assigned number in any numbering plan", "invalid_phone_number")
        main_region = phonenumbers.region_code_for_country_code(int(code))
        if region == NON_GEOGRAPHIC_REGION and region not in self.extra_regions:
            return refuse(f"{masked} is a non-geographic (satellite or international network) number")
        if region != main_region and region not in self.extra_regions:
            return refuse(
                f"{masked} is in region {region}, which is not allowed (DIAL_ALLOWED_REGIONS adds regions)"
            )
        if not phonenumbers.is_valid_number(parsed):
            return refuse(f"{masked} is not an assigned number in region {region}", "invalid_phone_number")
        if kind not in self.number_types:
            return refuse(
                f"{masked} is a {kind.replace('_', ' ')} number, which is not allowed "
                "(DIAL_ALLOWED_NUMBER_TYPES adds types)"
            )
        return DialVerdict(number=number, region=region, number_type=kind)

    def check(self, number: object, *, field_name: str = "to") -> str:
        """Return ``number`` when it may be dialled, else raise PhoneNumberError naming the field."""
        verdict = self.verdict(number)
        if verdict.allowed:
            return verdict.number
        assert verdict.code is not None and verdict.reason is not None
        raise PhoneNumberError(verdict.code, f"'{field_name}': {verdict.reason}")


def require_allowed_destination(number: object, policy: DialPolicy | tuple[str, ...]) -> str:
    """``policy.check(number)``; a bare tuple of calling codes means the default policy for them."""
    if not isinstance(policy, DialPolicy):
        policy = DialPolicy(country_codes=policy)
    return policy.check(number)


def transfer_destination(requested: str, current: str | None, policy: DialPolicy) -> str:
    """The number a transfer dials now: the persona's *current* ``transfer_number``, re-checked.

    ``requested`` is what the call's copy of the persona said when the call started; ``current``
    is what the stored persona says at dial time (its owner may have removed or changed it since),
    and ``policy`` is today's dial policy (the operator may have tightened it since the number was
    written). Raises PhoneNumberError (``transfer_not_allowed``) when nothing may be dialled.
    """
    if not current:
        raise PhoneNumberError(
            "transfer_not_allowed", "the persona no longer has a transfer_number", status=403
        )
    verdict = policy.verdict(current)
    if not verdict.allowed:
        changed = "" if current == requested else " (changed since the call started)"
        raise PhoneNumberError("transfer_not_allowed", f"'transfer_number'{changed}: {verdict.reason}")
    return verdict.number
