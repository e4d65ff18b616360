"""Each person's language, the one place that reads and remembers it."""

from __future__ import annotations

import aiosqlite

from bot.i18n import normalise_language
from storage import people


class Languages:
    """Kept in memory once read: only /lang changes a language, in the bot's own process,
    and `remember` is told. A department's group (a negative chat id) reads the default
    language.

    Every message a state change writes to the outbox is in its recipient's language, and
    a change writes several: reading them from memory keeps those reads out of the write
    transaction, which every other change waits for."""

    def __init__(self, default_language: str) -> None:
        self.default = default_language
        self._known: dict[int, str] = {}

    async def of(self, conn: aiosqlite.Connection, chat_id: int) -> str:
        if chat_id < 0:
            return self.default
        known = self._known.get(chat_id)
        if known is None:
            stored = await people.language(conn, chat_id)
            # A language remembered while this read was under way is newer than it.
            known = self._known.setdefault(chat_id, normalise_language(stored, self.default))
        return known

    def remember(self, user_id: int, lang: str) -> None:
        """A language just stored (committed) for this person."""
        self._known[user_id] = normalise_language(lang, self.default)
