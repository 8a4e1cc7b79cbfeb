"""What every route accepts: integers Postgres can store and text without hidden characters.

Threat model: a client sends values Postgres refuses (an id of 2**63 overflows `bigint`; a NUL
cannot be stored in `text`; a lone surrogate cannot be encoded as UTF-8), or characters that
hide in plain sight (a right-to-left override or a zero-width space in a name shown to others).
Refused at the edge as a 422 naming the field, they never reach the database as a 500.
"""

import unicodedata
from typing import Annotated

from annotated_types import Interval
from pydantic import AfterValidator

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Unicode categories refused in text: Cc control (NUL, escapes, DEL), Cf format (zero-width
# characters, bidirectional overrides, soft hyphen), Cs surrogates (not encodable as UTF-8).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def has_hidden_characters(value: str) -> bool:
    """True when the text holds a control, format or surrogate character."""
    # ASCII text (almost all of it) is checked without a lookup per character.
    if value.isascii():
        return not value.isprintable()
    return any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value)


def _plain(value: str) -> str:
    if has_hidden_characters(value):
        raise ValueError("must not contain control or format characters")
    return value


# Any integer a `bigint` column, parameter or comparison takes.
Int64 = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]
# A row id: positive, and a `bigint`.
Id = Annotated[int, Interval(ge=1, le=INT64_MAX)]
# One line of text as a person would type it: no control or format characters.
PlainText = Annotated[str, AfterValidator(_plain)]


def int64(text: str) -> int:
    """An integer from text, as `int()` reads it, refusing (ValueError) what no `bigint`
    holds: a cursor or header of 10**22 is a value we did not write, not a database error."""
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{text!r} is outside the 64-bit range")
    return value
