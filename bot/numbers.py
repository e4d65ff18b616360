"""Numbers people type or buttons carry: an issue number, a user id. One parser for all.

Only ASCII digits count ("²" and "١٢" are digits to Python, not to us), and the value must
fit SQLite's signed 64-bit integer; anything else is not a number and gets a usage hint.
"""

from __future__ import annotations

import re
from typing import Final

MAX_ID: Final = 2**63 - 1
"""The largest integer SQLite stores (and a Telegram id can never exceed)."""
_DIGITS: Final = re.compile(r"[0-9]{1,19}", re.ASCII)


def parse_id(value: str | None, *, hash_allowed: bool = True) -> int | None:
    """`value` as a positive id ("#12" and "12" → 12 when `hash_allowed`), or None."""
    if value is None:
        return None
    if hash_allowed and value.startswith("#"):
        value = value[1:]
    if not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None
