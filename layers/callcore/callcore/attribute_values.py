"""DynamoDB's typed JSON (``{"S": "x"}``, ``{"N": "1"}``, ...) to and from plain Python values.

Exists so the Lambda handlers can talk to DynamoDB through a plain botocore client: boto3's own
``TypeSerializer`` lives in a package whose import alone pulls in s3transfer and the resource
machinery, a cold-start cost the handlers do not need. The rules are DynamoDB's documented ones
and match boto3's serializer for every value this project stores (a property test holds the two
side by side): numbers are ``Decimal`` within 38 significant digits, floats are refused (they would
silently lose precision), sets must be non-empty and of one kind. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

__all__ = [
    "DYNAMODB_NUMBER_CONTEXT",
    "from_attribute_value",
    "item_from_wire",
    "item_to_wire",
    "to_attribute_value",
]

# DynamoDB numbers: 38 significant digits, magnitude 1E-130 .. 9.99E+125; anything that would be
# rounded or clamped is an error instead of a silently different stored value.
DYNAMODB_NUMBER_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)


def _number(value: int | Decimal) -> str:
    text = str(DYNAMODB_NUMBER_CONTEXT.create_decimal(value))
    if text in ("Infinity", "-Infinity", "NaN", "sNaN", "-NaN"):
        raise TypeError(f"DynamoDB cannot store {text}")
    return text


def _is_number(value: object) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _set_value(values: Set[Any]) -> dict[str, Any]:
    if not values:
        raise TypeError("DynamoDB cannot store an empty set")
    if all(_is_number(v) for v in values):
        return {"NS": [_number(v) for v in values]}
    if all(isinstance(v, str) for v in values):
        return {"SS": list(values)}
    if all(isinstance(v, (bytes, bytearray)) for v in values):
        return {"BS": [bytes(v) for v in values]}
    raise TypeError(f"a DynamoDB set holds numbers, strings or bytes of one kind, got {values!r}")


def to_attribute_value(value: object) -> dict[str, Any]:
    """One Python value as a DynamoDB AttributeValue (raises TypeError for what DynamoDB cannot hold)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}  # type: ignore[arg-type]  # _is_number narrowed it
    if isinstance(value, float):
        raise TypeError("floats are not supported by DynamoDB; use Decimal")
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        return _set_value(value)
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attribute_value(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attribute_value(v) for v in value]}
    raise TypeError(f"unsupported type for DynamoDB: {type(value).__name__}")


def from_attribute_value(wire: Mapping[str, Any]) -> Any:
    """One DynamoDB AttributeValue as a Python value (numbers come back as ``Decimal``)."""
    if len(wire) != 1:
        raise TypeError(f"an AttributeValue has exactly one type key, got {sorted(wire)}")
    ((kind, raw),) = wire.items()
    if kind == "S":
        return raw
    if kind == "N":
        return DYNAMODB_NUMBER_CONTEXT.create_decimal(raw)
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "B":
        return bytes(raw)
    if kind == "SS":
        return set(raw)
    if kind == "NS":
        return {DYNAMODB_NUMBER_CONTEXT.create_decimal(n) for n in raw}
    if kind == "BS":
        return {bytes(b) for b in raw}
    if kind == "L":
        return [from_attribute_value(v) for v in raw]
    if kind == "M":
        return {k: from_attribute_value(v) for k, v in raw.items()}
    raise TypeError(f"unknown DynamoDB type {kind!r}")


def item_to_wire(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A whole item (or key, or ExpressionAttributeValues map) in DynamoDB's typed JSON."""
    return {name: to_attribute_value(value) for name, value in item.items()}


def item_from_wire(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {name: from_attribute_value(value) for name, value in item.items()}
