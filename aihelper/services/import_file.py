"""Reading an export file (services/exports.py) to import it: parsed as it arrives, checked whole.

A file may hold 100 000 messages in 32 MB, and one worker serves everyone else's streams on the same
event loop, so nothing here happens in one go: the upload is parsed a piece at a time as it arrives
(ijson), after a guard that refuses shapes no export has before they are built, and checked a
message at a time against the pydantic models of an export, with the worker's other work in
between (fair_db). A wrong file is refused naming the place: `conversations[3].messages[2].role
must be user or assistant`. ChatGPT's export (a list at the top) is first turned into our
document's conversations by services/import_chatgpt.py, then checked alike. Writing what was read
is services/imports.py.

One module of a little over 400 lines: the guard, the parser and the models follow one document
shape, and its limits are one set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import ijson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from aihelper.failures import Invalid, Term
from aihelper.fair_db import Turns
from aihelper.i18n import N_
from aihelper.models.chat import MessageStatus, Role
from aihelper.services import import_chatgpt
from aihelper.services.exports import FORMAT, VERSION
from aihelper.services.history import SESSION_ID_MAX, TITLE_MAX
from aihelper.times import stored, utcnow
from aihelper.validation import FieldType, first_problem, refuse

MESSAGES_MAX = 100_000  # per file
MESSAGES_PER_CONVERSATION_MAX = 10_000
CONVERSATIONS_MAX = 20_000  # per file
FILES_PER_MESSAGE_MAX = 100
ANSWER_MAX = 500_000  # characters of an answer or its reasoning (far beyond any max_tokens)
YEARS = (1970, 9999)  # what every supported database's DATETIME holds
ROLES = (Role.USER, Role.ASSISTANT)
STATUSES = (MessageStatus.DONE, MessageStatus.STOPPED, MessageStatus.ERROR)
PARSE_PIECE = 64 * 1024  # bytes parsed between turns (about a millisecond)
NESTING_MAX = 16  # an export nests 5 deep
# What an export within the limits holds at most, outside strings: a message is an object with
# 10 fields and a usage object, a conversation an object with 9 fields and a list.
CONTAINERS_MAX = 2 * MESSAGES_MAX + 2 * CONVERSATIONS_MAX + 2
SEPARATORS_MAX = 12 * MESSAGES_MAX + 10 * CONVERSATIONS_MAX + 4
REF_MAX = 100  # characters of a message's id in a file
FIELDS_MAX = 16  # of one object
ITEMS_MAX = max(CONVERSATIONS_MAX, MESSAGES_PER_CONVERSATION_MAX)  # of one list


@dataclass(frozen=True)
class _Shape:
    nesting: int
    fields: int  # of one object
    items: int  # of one list
    containers: int
    separators: int


_OWN_SHAPE = _Shape(NESTING_MAX, FIELDS_MAX, ITEMS_MAX, CONTAINERS_MAX, SEPARATORS_MAX)
# ChatGPT's export, a list at the top (services/import_chatgpt.py): each conversation's `mapping`
# has a key per message, and each message a few objects of metadata, nested deeper.
_CHATGPT_SHAPE = _Shape(
    nesting=24,
    fields=2 * MESSAGES_PER_CONVERSATION_MAX,
    items=ITEMS_MAX,
    containers=3 * CONTAINERS_MAX,
    separators=3 * SEPARATORS_MAX,
)


# --- reading the file ------------------------------------------------------------------------------


class _TooDeep(Exception):
    pass


class _TooMany(Exception):
    pass


# The rest of a string through its closing quote; a string from its opening quote to its closing
# one (group 1) or to the end of the piece. Possessive: no backtracking.
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+"', re.S)
_STRING_OR_START = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:(")|\\?\Z)', re.S)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{},")
_OPEN_OBJECT, _OPEN_LIST, _SEPARATOR = b"{"[0], b"["[0], b","[0]


class _ShapeGuard:
    """Follows the brackets and commas outside strings, piece by piece, and refuses a file before
    the parser builds it when it nests deeper than NESTING_MAX (ijson's work grows with the square
    of the depth: 200 KB of "[" would hold a worker for minutes and take gigabytes), when one object
    or list is longer than any in an export within the limits (one dict of a million keys is
    rebuilt in one step as it grows), or when it holds more objects, lists or values in all than
    such an export can (32 MB of "{}," would become 0.8 GB of Python objects). The first bracket
    tells which export it is: ours (an object) or ChatGPT's (a list), each with its own shape."""

    def __init__(self) -> None:
        self.shape = _OWN_SHAPE
        self.open: list[list[int]] = []  # [kind, separators so far] of each open object or list
        self.containers = 0
        self.separators = 0
        self.in_string = False
        self.escaped = False  # the last piece ended on a backslash inside a string

    def check(self, piece: bytes) -> None:
        if self.escaped:
            piece, self.escaped = piece[1:], False
        if self.in_string:
            rest = _STRING_REST.match(piece)
            if rest is None:
                self._ends_inside_string(piece)
                return
            piece, self.in_string = piece[rest.end() :], False
        # Each string matched once, from its opening quote to its closing one or to the piece's end:
        # no quote inside a string is ever retried as an opening one (linear in the piece).
        kept, position = [], 0
        for string in _STRING_OR_START.finditer(piece):
            kept.append(piece[position : string.start()])
            position = string.end()
            if string.group(1) is None:  # a string begins here and goes on in the next piece
                self.in_string = True
                self._ends_inside_string(piece)
        kept.append(piece[position:])
        self._follow(b"".join(kept).translate(None, _NOT_STRUCTURE))

    def _follow(self, structure: bytes) -> None:
        open_, shape = self.open, self.shape
        for char in structure:
            if char == _SEPARATOR:
                if open_:
                    current = open_[-1]
                    current[1] += 1
                    if current[1] >= (shape.fields if current[0] == _OPEN_OBJECT else shape.items):
                        raise _TooMany
                self.separators += 1
            elif char in (_OPEN_OBJECT, _OPEN_LIST):
                if not self.containers and char == _OPEN_LIST:
                    self.shape = shape = _CHATGPT_SHAPE
                open_.append([char, 0])
                self.containers += 1
                if len(open_) > shape.nesting:
                    raise _TooDeep
            elif open_:
                open_.pop()
        if self.containers > shape.containers or self.separators > shape.separators:
            raise _TooMany

    def _ends_inside_string(self, piece: bytes) -> None:
        backslashes = len(piece) - len(piece.rstrip(b"\\"))
        self.escaped = backslashes % 2 == 1


def _parts(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """The upload in parts of at most PARSE_PIECE bytes, without a leading byte order mark."""
    first = True
    for piece in pieces:
        if first and piece:
            piece, first = piece.removeprefix(b"\xef\xbb\xbf"), False
        for offset in range(0, len(piece), PARSE_PIECE):
            yield piece[offset : offset + PARSE_PIECE]


def read_file(pieces: Iterable[bytes]) -> Any:
    """The JSON document of an upload given in pieces of any size, parsed as they come."""
    turns = Turns()
    guard = _ShapeGuard()
    parsed = ijson.sendable_list()
    parser = ijson.items_coro(parsed, "", use_float=True)
    try:
        for part in _parts(pieces):
            guard.check(part)
            parser.send(part)
            turns.take()
        parser.close()
    except (ijson.JSONError, _TooDeep):
        raise Invalid(N_("import_not_json")) from None
    except _TooMany:
        problem = Term(N_("import_too_many_values"), limit=str(MESSAGES_MAX))
        raise Invalid(N_("import_invalid"), where="file", problem=problem) from None
    return parsed[0]


# --- checking it -----------------------------------------------------------------------------------


def _now() -> datetime:
    return utcnow().replace(microsecond=0)


# What can be wrong with a value of the file: each field type refuses with the problem it found
# (a message key and its values); _file_refusal() says where.


@dataclass(frozen=True)
class _Text(FieldType):
    max_length: int
    optional: bool = False
    empty: bool = True
    stripped: bool = False

    def validate(self, value: Any) -> str | None:
        if value is None and self.optional:
            return None
        if not isinstance(value, str):
            raise refuse("import", N_("import_not_text"))
        if len(value) > self.max_length:
            raise refuse("import", N_("import_too_long"), limit=str(self.max_length))
        if not self.empty and not value.strip():
            raise refuse("import", N_("import_empty"))
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise refuse("import", N_("import_not_unicode")) from None
        # Compared stripped: MySQL's unique index would not tell "x" and "x " apart.
        return value.strip() if self.stripped else value


class _Time(FieldType):
    """An ISO 8601 time as naive UTC; never later than now (a time in the future would keep a
    conversation on top of the list, and out of reach of the retention clean-up, for ever)."""

    def validate(self, value: Any) -> datetime:
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            moment = stored(datetime.fromisoformat(value))
        except (ValueError, OverflowError):
            raise refuse("import", N_("import_not_time")) from None
        if not YEARS[0] <= moment.year <= YEARS[1]:
            raise refuse("import", N_("import_years"), low=str(YEARS[0]), high=str(YEARS[1]))
        return min(moment.replace(microsecond=0), _now())


class _Count(FieldType):
    def validate(self, value: Any) -> int | None:
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31):
            raise refuse("import", N_("import_not_count"))
        return value


class _Ref(FieldType):
    """A message's id within the file (a number, or a string as other exports have), as text."""

    def validate(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and 0 < len(value) <= REF_MAX:
            return value
        raise refuse("import", N_("import_bad_message_id"))


class _Flag(FieldType):
    def validate(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise refuse("import", N_("import_not_flag"))
        return value


class _Role(FieldType):
    def validate(self, value: Any) -> Role:
        if value not in ROLES:
            raise refuse("import", N_("import_bad_role"))
        return Role(value)


class _Status(FieldType):
    def validate(self, value: Any) -> MessageStatus:
        if value == MessageStatus.STREAMING:  # exported while it was still generating
            return MessageStatus.ERROR
        if value not in STATUSES:
            raise refuse("import", N_("import_bad_status"))
        return MessageStatus(value)


class _List(FieldType):
    """A list of at most `limit()` items (read when checked: a test lowers the limits)."""

    def __init__(self, limit, problem: str) -> None:
        self.limit, self.problem = limit, problem

    def validate(self, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise refuse("import", N_("import_not_list"))
        if len(value) > self.limit():
            raise refuse("import", self.problem, count=str(len(value)), limit=str(self.limit()))
        return value


class _Format(FieldType):
    def validate(self, value: Any) -> str:
        if value != FORMAT:
            raise refuse("import", N_("import_bad_format"), format=FORMAT, version=str(VERSION))
        return value


class _Version(FieldType):
    def validate(self, value: Any) -> int:
        if value != VERSION:
            raise refuse("import", N_("import_bad_format"), format=FORMAT, version=str(VERSION))
        return value


class _Usage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_tokens: Annotated[int | None, _Count()] = None
    completion_tokens: Annotated[int | None, _Count()] = None


ModelName = Annotated[str | None, _Text(100, optional=True)]


class _FileRef(BaseModel):
    """A file of a message, in an export zip beside the document (`file`: its place there)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: Annotated[str, _Text(100, empty=False)]
    name: Annotated[str, _Text(255)] = "file"
    kind: Annotated[str | None, _Text(16, optional=True)] = None
    media_type: Annotated[str | None, _Text(100, optional=True)] = None
    size: Annotated[int | None, _Count()] = None
    sha256: Annotated[str | None, _Text(64, optional=True)] = None


class _Message(BaseModel):
    """One message of an export (services/exports.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Files with branches name each message and the one it follows (None: a first message);
    # in one without, each message follows the one before.
    id: Annotated[str | None, _Ref()] = None
    parent_id: Annotated[str | None, _Ref()] = None
    role: Annotated[Role, _Role()]
    content: Annotated[str, _Text(ANSWER_MAX)]  # a question's own limit is checked after
    reasoning: Annotated[str | None, _Text(ANSWER_MAX, optional=True)] = None
    timestamp: Annotated[datetime, _Time()]
    status: Annotated[MessageStatus, _Status()] = MessageStatus.DONE
    model_id: ModelName = None
    finish_reason: Annotated[str | None, _Text(20, optional=True)] = None
    usage: _Usage | None = None
    attachments: Annotated[list[_FileRef], Field(max_length=FILES_PER_MESSAGE_MAX)] = []


class _Conversation(BaseModel):
    """One conversation of an export, its messages checked one at a time after it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: Annotated[str, _Text(SESSION_ID_MAX, empty=False, stripped=True)]
    origin_id: Annotated[str | None, _Text(SESSION_ID_MAX, optional=True, empty=False, stripped=True)] = None
    title: Annotated[str, _Text(TITLE_MAX)]
    model_id: ModelName = None
    pinned: Annotated[bool, _Flag()] = False
    create_time: Annotated[datetime | None, _Time()] = None
    update_time: Annotated[datetime | None, _Time()] = None
    selected_leaf_id: Annotated[str | None, _Ref()] = None  # the branch shown, by a message's id
    messages: Annotated[list[Any], _List(lambda: MESSAGES_PER_CONVERSATION_MAX, N_("import_conversation_too_long"))]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Annotated[str, _Format()]
    version: Annotated[int, _Version()] = VERSION
    exported_at: Any = None
    conversations: Annotated[list[Any], _List(lambda: CONVERSATIONS_MAX, N_("import_too_many_conversations"))]


_MESSAGE = TypeAdapter(_Message)
_CONVERSATION = TypeAdapter(_Conversation)
_FILE = TypeAdapter(_File)


class _Refused(Exception):
    """The file is wrong at `where` (a place such as conversations[3].messages[2].role)."""

    def __init__(self, where: str, problem: Term) -> None:
        super().__init__(where)
        self.where, self.problem = where, problem


def _checked(adapter: TypeAdapter, value: Any, where: str) -> Any:
    """`value` as what `adapter` reads, or _Refused naming the place in the file."""
    try:
        return adapter.validate_python(value)
    except ValidationError as error:
        raise _file_refusal(error, where) from None


def _file_refusal(error: ValidationError, where: str) -> _Refused:
    problem = first_problem(error)
    if problem.refused is not None:
        return _Refused(_within(where, problem.place), problem.refused)
    if problem.kind == "missing":
        return _Refused(_within(where, problem.container), Term(N_("import_missing_field"), name=problem.field))
    if problem.kind == "extra_forbidden":
        return _Refused(_within(where, problem.container), Term(N_("import_unknown_field"), name=problem.field))
    return _Refused(_within(where, problem.place), Term(N_("import_not_object")))  # model_type and the like


def _within(where: str, inner: str) -> str:
    """The place `inner` inside the value at `where` ("" for the file itself)."""
    if not where:
        return inner or "file"
    return f"{where}{inner}" if inner.startswith("[") else f"{where}.{inner}" if inner else where


def _checked_conversation(value: Any, where: str, question_max: int, turns: Turns) -> dict[str, Any]:
    conversation: _Conversation = _checked(_CONVERSATION, value, where)
    messages = []
    files: dict[int, list[dict[str, Any]]] = {}  # message index -> the files it names
    positions: dict[str, int] = {}  # a message's id in the file -> its index
    for index, raw in enumerate(conversation.messages):
        message: _Message = _checked(_MESSAGE, raw, f"{where}.messages[{index}]")
        parent_index = _parent_index(message, index, positions, f"{where}.messages[{index}]")
        # A question as long as one typed here, at most: earlier messages go to the provider again.
        if message.role == Role.USER and len(message.content) > question_max:
            problem = Term(N_("import_too_long"), limit=str(question_max))
            raise _Refused(f"{where}.messages[{index}].content", problem)
        usage = message.usage or _Usage()
        messages.append(
            {
                "role": message.role,
                "content": message.content,
                "reasoning": message.reasoning or None,
                "timestamp": message.timestamp,
                "status": message.status,
                "model_id": message.model_id,
                "finish_reason": message.finish_reason,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "parent_index": parent_index,
            }
        )
        if message.attachments:
            files[index] = [ref.model_dump() for ref in message.attachments]
        turns.take()
    create_time, update_time = conversation.create_time, conversation.update_time
    # Every message lies between create_time and update_time, as for a conversation held here:
    # the time-range filter relies on it.
    if messages:
        first, last = min(m["timestamp"] for m in messages), max(m["timestamp"] for m in messages)
        create_time = min(create_time or first, first)
        update_time = max(update_time or last, last)
    return {
        "origin_id": conversation.origin_id or conversation.session_id,
        "session_id": conversation.session_id,
        "title": " ".join(conversation.title.split()),
        "model_id": conversation.model_id,
        "pinned": conversation.pinned,
        "create_time": create_time or _now(),
        "update_time": update_time or _now(),
        "messages": messages,
        "files": files,
        "selected_index": positions.get(conversation.selected_leaf_id),
    }


def _parent_index(message: _Message, index: int, positions: dict[str, int], where: str) -> int | None:
    """The index of the message `message` follows: the one it names, which must come before it,
    or (a file without branches) the one before it."""
    if message.id is None:
        return index - 1 if index else None
    if message.id in positions:
        raise _Refused(f"{where}.id", Term(N_("import_repeated_message_id")))
    positions[message.id] = index
    if message.parent_id is None:
        return None
    if message.parent_id not in positions:
        raise _Refused(f"{where}.parent_id", Term(N_("import_unknown_parent")))
    return positions[message.parent_id]


def parse_import(pieces: Iterable[bytes], question_max: int) -> list[dict[str, Any]]:
    """The conversations of an export file given in pieces, checked whole; Invalid saying where it
    is wrong."""
    document = read_file(pieces)
    turns = Turns()
    try:
        if isinstance(document, list):  # ChatGPT's export
            try:
                conversations = import_chatgpt.conversations_of(document, question_max)
            except import_chatgpt.NotChatGPT as wrong:
                raise _Refused(wrong.where, Term(N_("import_not_chatgpt"))) from None
            except import_chatgpt.TooManyNodes:
                limit = str(import_chatgpt.NODES_MAX)
                raise _Refused("file", Term(N_("import_too_many_values"), limit=limit)) from None
        elif isinstance(document, dict):
            conversations = _checked(_FILE, document, "").conversations
        else:
            raise _Refused("file", Term(N_("import_not_object")))
        total = sum(len(c.get("messages") or ()) if isinstance(c, dict) else 0 for c in conversations)
        if total > MESSAGES_MAX:
            problem = Term(N_("import_too_many_messages"), count=str(total), limit=str(MESSAGES_MAX))
            raise _Refused("conversations", problem)
        return [
            _checked_conversation(c, f"conversations[{i}]", question_max, turns) for i, c in enumerate(conversations)
        ]
    except _Refused as refused:
        raise Invalid(N_("import_invalid"), where=refused.where, problem=refused.problem) from None
