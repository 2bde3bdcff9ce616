"""The dial policy decides by number type and region, not by the country code alone."""

from __future__ import annotations

import pytest
from callcore.personas import PersonaError, parse_persona
from callcore.phone import DialPolicy, PhoneNumberError
from callcore.settings import Settings, SettingsError

DEFAULT = DialPolicy()


@pytest.mark.parametrize(
    "number",
    [
        "+14155550123",  # US geographic
        "+12125550123",
        "+14165550123",  # Canada (allowed by default through DIAL_ALLOWED_REGIONS=CA)
        "+18005550199",  # US toll-free
    ],
)
def test_ordinary_north_american_lines_are_allowed(number: str) -> None:
    assert DEFAULT.check(number) == number


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("+19005550123", "premium rate"),  # +1 900
        ("+18765551234", "region JM"),  # Jamaica one-ring
        ("+18095551234", "region DO"),  # Dominican Republic
        ("+17875550123", "region PR"),  # Puerto Rico needs an explicit opt-in
        ("+447911123456", "outside the allowed country codes"),
        ("+881612345678", "outside the allowed country codes"),  # Iridium satellite
    ],
)
def test_fraud_prone_destinations_are_refused_inside_plus_one(number: str, why: str) -> None:
    with pytest.raises(PhoneNumberError) as refused:
        DEFAULT.check(number)
    assert refused.value.code == "destination_not_allowed" and refused.value.status == 403
    assert why in refused.value.message
    assert number[-6:-2] not in refused.value.message  # masked


def test_unassigned_numbers_are_a_client_error() -> None:
    with pytest.raises(PhoneNumberError) as bad:
        DEFAULT.check("+15555550100")
    assert (bad.value.code, bad.value.status) == ("invalid_phone_number", 400)
    with pytest.raises(PhoneNumberError) as syntax:
        DEFAULT.check("555-0123", field_name="transfer_number")
    assert syntax.value.status == 400 and "'transfer_number'" in syntax.value.message


def test_explicit_opt_ins_widen_the_policy() -> None:
    settings = Settings.from_env(
        {
            "ALLOWED_COUNTRY_CODES": "1,44,881",
            "DIAL_ALLOWED_REGIONS": "ca, JM, 001",
            "DIAL_ALLOWED_NUMBER_TYPES": "premium_rate",
        }
    )
    policy = DialPolicy.from_settings(settings)
    for number in ("+18765551234", "+19005550123", "+442079460000", "+881612345678"):
        assert policy.check(number) == number
    # GG (Guernsey) shares +44 but is not GB: still refused unless listed.
    with pytest.raises(PhoneNumberError, match="region GG"):
        policy.check("+447911123456")
    # Shared cost stays refused: only premium rate was opted in.
    with pytest.raises(PhoneNumberError, match="personal number"):
        policy.check("+447012345678")


def test_non_geographic_ranges_need_001_even_when_their_code_is_allowed() -> None:
    policy = DialPolicy(country_codes=("881",), extra_regions=frozenset())
    with pytest.raises(PhoneNumberError, match="non-geographic"):
        policy.check("+881612345678")


@pytest.mark.parametrize(
    "env", [{"DIAL_ALLOWED_REGIONS": "Jamaica"}, {"DIAL_ALLOWED_NUMBER_TYPES": "premium"}]
)
def test_bad_policy_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


def test_transfer_number_passes_the_same_policy() -> None:
    body = {"voice_id": "v", "prompt": "p", "greeting": "g", "transfer_number": "+19005550123"}
    assert parse_persona(body, persona_id="x").transfer_number == "+19005550123"  # syntax only
    with pytest.raises(PersonaError, match=r"'transfer_number'.*premium rate"):
        parse_persona(body, persona_id="x", dial_policy=DEFAULT)
    body["transfer_number"] = "+14155550123"
    assert parse_persona(body, persona_id="x", dial_policy=DEFAULT).transfer_number == "+14155550123"


def test_a_transfer_dials_the_stored_number_only_if_todays_policy_allows_it() -> None:
    from callcore.phone import transfer_destination

    policy = DialPolicy()
    assert transfer_destination("+14155550188", "+14155550188", policy) == "+14155550188"
    assert transfer_destination("+14155550188", "+14155550199", policy) == "+14155550199"  # edited since
    with pytest.raises(PhoneNumberError, match="no longer has a transfer_number"):
        transfer_destination("+14155550188", None, policy)
    with pytest.raises(PhoneNumberError, match=r"changed since the call started.*premium"):
        transfer_destination("+14155550188", "+19005550123", policy)
    with pytest.raises(PhoneNumberError, match="outside the allowed country codes"):
        transfer_destination("+442079460000", "+442079460000", policy)  # the operator tightened it
