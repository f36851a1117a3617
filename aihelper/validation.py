"""What clients send, read through pydantic models: the shapes in one place each, and one way to
say what is wrong and where.

A model lists every field it takes (`extra="forbid"`: a field it does not know is refused, never
silently ignored), with its type, length and bounds. `place()` names where a value was wrong the
way a person reads it: `conversations[3].messages[2].role`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainValidator, ValidationError

from aihelper.ids import is_id


class Shape(BaseModel):
    """A message from a client: exactly these fields, of exactly these types (JSON's: no "5" for
    5, no 1 for true)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _encodable(text: str) -> str:
    """Strings with lone surrogates, which JSON allows and no database can store, are refused."""
    text.encode("utf-8")  # UnicodeEncodeError is a ValueError: pydantic reports it as the field's
    return text


Text = Annotated[str, AfterValidator(_encodable)]


def _id_or_name(value: object) -> int | str:
    """A row's id, or a name: one value of either kind (a union would name its members in the
    place of a problem)."""
    if isinstance(value, str):
        return _encodable(value)
    if is_id(value):
        return value
    raise ValueError("neither an id nor a name")


IdOrName = Annotated[int | str, PlainValidator(_id_or_name)]


def place(location: Sequence[int | str]) -> str:
    """`("conversations", 3, "messages", 2, "role")` as `conversations[3].messages[2].role`."""
    named = ""
    for step in location:
        if isinstance(step, int):
            named += f"[{step}]"
        else:
            named += f".{step}" if named else step
    return named


# The union told apart by a field had no such field, or an unknown value in it: that field is wrong.
_UNION_TAG = ("union_tag_invalid", "union_tag_not_found")


def first_place(error: ValidationError) -> str:
    """Where the first problem of `error` is; empty when the whole document is wrong (not JSON)."""
    problem = error.errors(include_url=False, include_input=False)[0]
    location = tuple(problem["loc"])
    if problem["type"] in _UNION_TAG:
        location += (problem["ctx"]["discriminator"].strip("'"),)
    return place(location)
