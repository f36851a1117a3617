"""Checking and converting submitted values (JSON bodies and page forms alike) with readable errors.

Form posts deliver strings and JSON delivers typed values; both are accepted where the meaning is
unambiguous ("5" and 5 for an integer, "on"/"true"/true for a flag).
"""

from __future__ import annotations

from typing import Any

from aihelper.failures import Invalid, Term
from aihelper.i18n import N_
from aihelper.models.types import Status

_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no", ""}


def required_text(values: dict[str, Any], name: str, label_key: str, max_length: int | None = None) -> str:
    """A non-empty string (surrounding white space removed unless it is a secret)."""
    value = values.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Invalid("missing_field", N_("field_required"), field=Term(label_key))
    return _limited(value, label_key, max_length)


def optional_text(values: dict[str, Any], name: str, label_key: str, max_length: int) -> str | None:
    value = values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise Invalid("invalid_field", N_("field_required"), field=Term(label_key))
    return _limited(value.strip(), label_key, max_length)


def _limited(value: str, label_key: str, max_length: int | None) -> str:
    if max_length is not None and len(value) > max_length:
        raise Invalid(N_("too_long"), field=Term(label_key), limit=max_length)
    return value


def integer(values: dict[str, Any], name: str, label_key: str, low: int, high: int, default: int) -> int:
    return _number(values, name, label_key, low, high, default, _whole)


def decimal(values: dict[str, Any], name: str, label_key: str, low: float, high: float, default: float) -> float:
    return _number(values, name, label_key, low, high, default, float)


def _whole(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)


def _number(values: dict[str, Any], name: str, label_key: str, low, high, default, convert):
    """A number within [low, high]; absent or empty means `default`; flags are not numbers."""
    value = values.get(name, default)
    if value in (None, ""):
        return default
    try:
        number = None if isinstance(value, bool) else convert(value)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or number != number or not low <= number <= high:  # number != number: NaN
        raise Invalid(N_("out_of_range"), field=Term(label_key), low=low, high=high)
    return number


def flag(values: dict[str, Any], name: str, label_key: str) -> bool:
    value = values.get(name)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise Invalid("invalid_field", N_("invalid_boolean"), field=Term(label_key))


def status(values: dict[str, Any], default: str = Status.ACTIVE) -> str:
    """`active` or `disabled`; also accepts a flag (true = active), as the original API did."""
    value = values.get("status", default)
    if value in (Status.ACTIVE, Status.DISABLED):
        return value
    if isinstance(value, bool) or value in (0, 1, "0", "1", "true", "false", "on", "off"):
        return Status.ACTIVE if flag({"status": value}, "status", N_("field_status")) else Status.DISABLED
    raise Invalid(N_("invalid_status"))
