"""callcore.attribute_values against boto3's own TypeSerializer/TypeDeserializer (the reference)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from callcore.attribute_values import from_attribute_value, item_from_wire, item_to_wire, to_attribute_value
from hypothesis import given
from hypothesis import strategies as st

_numbers = st.one_of(
    st.integers(min_value=-(10**37), max_value=10**37),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20), max_value=10**20),
)
_scalars = st.one_of(
    st.none(), st.booleans(), _numbers, st.text(max_size=20), st.binary(min_size=1, max_size=8)
)
_sets = st.one_of(
    st.frozensets(st.text(max_size=8), min_size=1, max_size=4).map(set),
    st.frozensets(st.integers(-1000, 1000), min_size=1, max_size=4).map(set),
    st.frozensets(st.binary(min_size=1, max_size=4), min_size=1, max_size=4).map(set),
)
_values = st.recursive(
    st.one_of(_scalars, _sets),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(_values)
def test_serialises_exactly_like_boto3(value: Any) -> None:
    assert to_attribute_value(value) == TypeSerializer().serialize(value)


@given(_values)
def test_deserialises_exactly_like_boto3(value: Any) -> None:
    wire = TypeSerializer().serialize(value)
    assert from_attribute_value(wire) == TypeDeserializer().deserialize(wire)


def test_numbers_come_back_as_decimal_and_items_round_trip() -> None:
    item = {"PK": "CALL#c1", "n": 3, "price": Decimal("1.25"), "tags": {"a", "b"}, "meta": {"x": [1, None]}}
    back = item_from_wire(item_to_wire(item))
    assert back == {**item, "n": Decimal(3)}
    assert isinstance(back["n"], Decimal)


@pytest.mark.parametrize(
    "bad",
    [1.5, Decimal("NaN"), Decimal("Infinity"), Decimal("1." + "1" * 40), set(), {1, "a"}, object()],
    ids=["float", "nan", "infinity", "too-precise", "empty-set", "mixed-set", "object"],
)
def test_values_dynamodb_cannot_hold_are_refused(bad: Any) -> None:
    with pytest.raises((TypeError, ArithmeticError)):
        to_attribute_value(bad)


def test_malformed_wire_values_are_refused() -> None:
    with pytest.raises(TypeError):
        from_attribute_value({"S": "a", "N": "1"})
    with pytest.raises(TypeError):
        from_attribute_value({"X": "a"})
