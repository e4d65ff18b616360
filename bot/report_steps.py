"""The steps of writing a report, in order. A draft's `step` is one of these, and it is
also the report conversation's state."""

from __future__ import annotations

from enum import IntEnum


class Step(IntEnum):
    GRID = 1
    CATEGORY = 2
    DESCRIPTION = 3
    PHOTOS = 4
    LOCATION = 5
    URGENCY = 6
    CONFIRM = 7
    OFFER = 8
