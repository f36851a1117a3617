"""What clients send, read through pydantic models: the shapes in one place each, and one way to
say what is wrong and where.

A model lists every field it takes (`extra="forbid"`: a field it does not know is refused, never
silently ignored), with its type, length and bounds. Two kinds:

- `Shape`, for what only scripts send (websocket frames): JSON's types exactly.
- `Fields`, for what JSON bodies, page forms and query strings send alike, with the field types
  below: a form delivers strings, so "5" is 5 and "on" is true where that is unambiguous. Each
  field type refuses with its own code and message (`too_long`, `out_of_range`, …), and a field's
  `title` is the message key of its name as a person reads it.

`first_problem()` is the one reading of a ValidationError: what is wrong first and where
(`conversations[3].messages[2].role`). `read()` turns a body into its model or raises it as the
Invalid of a body (`refusal()`); a frame (chat/incoming.py) and an import file
(services/import_file.py) word the same Problem in their API's terms. All in no language yet
(failures.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone, tzinfo
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError, core_schema

from aihelper.failures import Invalid, Term
from aihelper.i18n import N_
from aihelper.ids import is_id
from aihelper.models.types import Status
from aihelper.times import WrittenTime


class Shape(BaseModel):
    """A message from a script: exactly these fields, of exactly these types (JSON's: no "5" for
    5, no 1 for true)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Fields(BaseModel):
    """A body, form or query string: exactly these fields, of the field types below."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Model = TypeVar("Model", bound=BaseModel)


def defaulted(title: str | None = None) -> Any:
    """A field whose type gives its value when it is absent too (a number's default, UTC)."""
    return Field(default=None, validate_default=True, title=title)


def read(model: type[Model], values: Mapping[str, Any]) -> Model:
    """`values` as a `model`, or Invalid naming the first place that is wrong."""
    unknown = first_unknown(model, values)
    if unknown is not None:
        raise Invalid("unknown_field", N_("unknown_field"), field=place((unknown,)))
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise refusal(error, model) from None


@dataclass(frozen=True)
class Problem:
    """What is wrong first in a value, and where: the one reading of a ValidationError, which each
    kind of client message then words in its API's terms (a body's field code, a frame's
    `bad_frame`, an import file's `import_invalid`)."""

    location: tuple[int | str, ...]
    kind: str  # pydantic's type of error, or a field type's own code
    refused: Term | None  # a field type's own message (its values included)

    @property
    def place(self) -> str:
        return place(self.location)

    @property
    def container(self) -> str:
        """The place of the object a missing or unknown field belongs to."""
        return place(self.location[:-1])

    @property
    def field(self) -> str:
        return str(self.location[-1])[:NAME_SHOWN] if self.location else ""


# The union told apart by a field had no such field, or an unknown value in it: that field is wrong.
_UNION_TAG = ("union_tag_invalid", "union_tag_not_found")


def first_problem(error: ValidationError) -> Problem:
    problem = error.errors(include_url=False, include_input=False)[0]
    location, kind = tuple(problem["loc"]), problem["type"]
    values = dict(problem.get("ctx") or {})
    if kind in _UNION_TAG:
        location += (values["discriminator"].strip("'"),)
    refused = Term(values.pop(_MESSAGE_KEY), **values) if _MESSAGE_KEY in values else None
    return Problem(location, kind, refused)


def first_unknown(model: type[BaseModel], values: Mapping[str, Any]) -> str | None:
    """The first field of `values` that `model` does not have, found before pydantic validates:
    pydantic would report every one of them, and a body of 300 000 made-up keys took a second."""
    known = {field.alias or name for name, field in model.model_fields.items()}
    return next((str(name) for name in values if name not in known), None)


def refusal(error: ValidationError, model: type[BaseModel]) -> Invalid:
    """A body's first problem as the API's failure: the field type's own code and message, or
    `missing_field`, `unknown_field`, `invalid_field`; the field named by its title."""
    problem = first_problem(error)
    field = model.model_fields.get(problem.field) if len(problem.location) == 1 else None
    name: str | Term = Term(field.title) if field is not None and field.title else problem.place
    if problem.kind == "missing":
        return Invalid("missing_field", N_("field_required"), field=name)
    if problem.kind == "extra_forbidden":
        return Invalid("unknown_field", N_("unknown_field"), field=problem.place)
    if problem.refused is not None:
        return Invalid(problem.kind, Term(problem.refused.key, field=name, **problem.refused.values))
    return Invalid("invalid_field", N_("invalid_value"), field=name)


NAME_SHOWN = 40  # characters of a field name a client made up, when a message repeats it


def place(location: Sequence[int | str]) -> str:
    """`("conversations", 3, "messages", 2, "role")` as `conversations[3].messages[2].role`."""
    named = ""
    for step in location:
        if isinstance(step, int):
            named += f"[{step}]"
        else:
            step = step[:NAME_SHOWN]
            named += f".{step}" if named else step
    return named


# --- values of any shape ---------------------------------------------------------------------------


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


# --- the field types of bodies, forms and query strings -------------------------------------------


def refuse(code: str, message: str, **values: Any) -> PydanticCustomError:
    """A field type's refusal: its code, and its message key with the values (first_problem() reads them)."""
    return PydanticCustomError(code, code, {_MESSAGE_KEY: message, **values})


_MESSAGE_KEY = "aihelper_message"


class FieldType(ABC):
    """A field type: one plain validator, so that every refusal is the type's own."""

    @abstractmethod
    def validate(self, value: Any) -> Any:
        """The value a body may hold, or a refusal (`refuse`)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)


def is_text(value: Any) -> bool:
    """A string a database can store (no lone surrogates)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class RequiredText(FieldType):
    """A string that is not blank, of at most `max_length` characters; `strip` removes the white
    space around it (never for a secret)."""

    max_length: int | None = None
    strip: bool = False

    def validate(self, value: Any) -> str:
        if not is_text(value) or not value.strip():
            raise refuse("missing_field", N_("field_required"))
        text = value.strip() if self.strip else value
        if self.max_length is not None and len(text) > self.max_length:
            raise refuse("too_long", N_("too_long"), limit=self.max_length)
        return text


@dataclass(frozen=True)
class OptionalText(FieldType):
    """A string of at most `max_length` characters without the white space around it; None when
    blank or null."""

    max_length: int

    def validate(self, value: Any) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not is_text(value):
            raise refuse("invalid_field", N_("field_required"))
        if len(value.strip()) > self.max_length:
            raise refuse("too_long", N_("too_long"), limit=self.max_length)
        return value.strip()


@dataclass(frozen=True)
class Number(FieldType):
    """A number in [low, high] (a whole one unless `decimal`), from JSON or from a form's text;
    `default` when null or empty. A flag is not a number."""

    low: float
    high: float
    default: float
    decimal: bool = False

    def validate(self, value: Any) -> float | int:
        if value is None or value == "":
            return self.default
        number: float | int | None
        try:
            number = None if isinstance(value, bool) else float(value) if self.decimal else _whole(value)
        except (TypeError, ValueError, OverflowError):
            number = None
        if number is None or number != number or not self.low <= number <= self.high:  # != itself: NaN
            raise refuse("out_of_range", N_("out_of_range"), low=self.low, high=self.high)
        return number


def _whole(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)


_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no", ""}


def _flag(value: Any) -> bool | None:
    """True or False from JSON (true, 1) or from a form ("on", "yes", "0", ""); None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


class Flag(FieldType):
    def validate(self, value: Any) -> bool:
        flag = _flag(value)
        if flag is None:
            raise refuse("invalid_field", N_("invalid_boolean"))
        return flag


class StatusValue(FieldType):
    """`active` or `disabled`; a flag too (true = active), as the original API took it."""

    def validate(self, value: Any) -> Status:
        if value in (Status.ACTIVE, Status.DISABLED):
            return Status(value)
        flag = _flag(value) if value != "" else None
        if flag is None:
            raise refuse("invalid_status", N_("invalid_status"))
        return Status.ACTIVE if flag else Status.DISABLED


StatusChoice = Annotated[Status, StatusValue(), Field(title=N_("field_status"))]


@dataclass(frozen=True)
class PageSize(FieldType):
    """How many to answer: a positive whole number in digits, at most `high` (more asks for all
    there may be: `high`); `default` when absent or empty."""

    default: int
    high: int

    def validate(self, value: Any) -> int:
        if value is None or value == "":
            return self.default
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        digits = text.lstrip("0") if isinstance(text, str) and text.isascii() and text.isdigit() else ""
        if not digits:
            raise refuse("invalid_limit", N_("invalid_limit"), high=str(self.high))
        return min(int(digits), self.high) if len(digits) <= 9 else self.high


# Offsets beyond any zone's, historical ones included (America/Metlakatla was +15:13): a time that
# stays a datetime in both stays one in every zone.
_FARTHEST_ZONES = (timezone(timedelta(hours=23, minutes=59)), timezone(-timedelta(hours=23, minutes=59)))


@dataclass(frozen=True)
class Moment(FieldType):
    """An ISO 8601 date or date-time (times.WrittenTime), placed in a zone by whoever reads it;
    None when blank if `optional`."""

    optional: bool = False

    def validate(self, value: Any) -> WrittenTime | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if self.optional:
                return None
            raise refuse("missing_field", N_("field_required"))
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            written = WrittenTime.parse(value.strip())
            for zone in _FARTHEST_ZONES:
                for end in (False, True):
                    written.stored(zone, end=end)
        except (ValueError, OverflowError):
            raise refuse("invalid_time", N_("invalid_time")) from None
        return written


class TimeZone(FieldType):
    """An IANA time zone name (`Asia/Shanghai`) or UTC; UTC when absent or empty."""

    def validate(self, value: Any) -> tzinfo:
        if value is None or value == "":
            return UTC
        if isinstance(value, str) and value.upper() == "UTC":  # even where the system has no zone database
            return UTC
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
            raise refuse("invalid_timezone", N_("invalid_timezone")) from None


@dataclass(frozen=True)
class SessionIds(FieldType):
    """A list of 1 to `most` conversation ids."""

    most: int

    def validate(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not 0 < len(value) <= self.most or not all(map(is_text, value)):
            raise refuse("invalid_session_ids", N_("invalid_session_ids"), limit=str(self.most))
        return value


@dataclass(frozen=True)
class OneOf(FieldType):
    """One of `choices`; anything else is refused with `code` (also its message key)."""

    choices: tuple[str, ...]
    code: str

    def validate(self, value: Any) -> str:
        if value not in self.choices:
            raise refuse(self.code, self.code)
        return value
