"""The range of row ids, in one place: every id a client sends (in a URL or a JSON body) is checked
against it before it reaches the database.

The id columns are INT, which stops at 2^31 - 1 on MySQL. A number outside the range names no row
and is answered like a missing one; sent on to the database it could even fail there (SQLite can't
bind 2^63 or more: a 500).
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter

ID_MAX = 2**31 - 1
MESSAGE_ID_MAX = 2**63 - 1  # messages: BIGINT


def is_id(value: Any) -> bool:
    """Whether `value` is a number some row could have as its id."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= ID_MAX


def _decimals_up_to(high: int) -> str:
    """A regular expression for the numbers 1..high written without leading zeros: the shorter
    ones, then for each digit of `high` its prefix followed by a smaller digit, then `high`."""
    digits = str(high)
    options = [rf"[1-9]\d{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for position, digit in enumerate(digits):
        lowest = 1 if position == 0 else 0
        if int(digit) > lowest:
            rest = len(digits) - position - 1
            options.append(rf"{digits[:position]}[{lowest}-{int(digit) - 1}]\d{{{rest}}}")
    options.append(digits)
    return "(?:" + "|".join(options) + ")"


class IdConverter(BaseConverter):
    """`<id:name>` in a route: only ids in the range match, so any other number is a 404. The range
    is in the pattern, not checked after it: Werkzeug answers a rule that matched by pattern and
    then refused the value with 405 for the rule's other methods."""

    regex = _decimals_up_to(ID_MAX)

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
