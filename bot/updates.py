"""How updates are processed: many people at once, each person's updates in order.

PTB handles updates one at a time by default, so while one handler waits for the
database or for the Bot API the bot does nothing else (bench/load.py measures how long;
docs/performance.md). `PerPersonOrder` lets updates from different people run concurrently and
keeps one person's updates strictly in arrival order: the report conversation
(ConversationHandler) and the draft rely on a person's steps being handled one by one.
Updates from different people touching the same issue are safe concurrently because every
state change re-checks the issue inside its write transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


def ordering_key(update: object) -> int | None:
    """Whose updates must stay in order: the person's, else the chat's (channel posts)."""
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None


class PerPersonOrder(BaseUpdateProcessor):
    """Up to `max_concurrent_updates` updates at once, one at a time per person. PTB starts
    each update's task in arrival order and asyncio locks are first come, first served, so
    a person's updates run in the order Telegram delivered them."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._holders: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = ordering_key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._holders[key] = self._holders.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:
                del self._holders[key]
                del self._locks[key]

    @property
    def people_in_hand(self) -> int:
        """People with at least one update being handled or waiting its turn."""
        return len(self._locks)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release: PTB awaits the running updates before shutting down."""
