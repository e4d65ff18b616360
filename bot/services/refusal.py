"""A request that is refused: nothing changed, and the person gets a short answer."""

from __future__ import annotations


class Refused(Exception):
    """`key` names the answer in the message catalogue; `values` fill it."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values
