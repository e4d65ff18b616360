"""PTB persistence for the report conversation, backed by the draft table.

The draft row's `step` *is* the conversation state: the report handlers write it at
every step, and this class hands it back to the ConversationHandler on start, so a
half-written report survives a restart; a draft that stopped waiting for input (the
person started something else, or left it longer than the prompt window, see
handlers/prompts.py) comes back as a saved draft that /report resumes, not as a
conversation. Nothing else is persisted through PTB:
everything else Whistle knows lives in its own tables.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

from telegram.ext import BasePersistence, PersistenceInput

from bot.clock import to_epoch
from bot.services.reports import ReportService
from storage import drafts
from storage.db import Database

Data = dict[Any, Any]
# The shapes BasePersistence's methods take, spelled out: PTB names them only in a
# private module.
ConversationKey = tuple[int | str, ...]
ConversationDict = MutableMapping[ConversationKey, object]
CDCData = tuple[list[tuple[str, float, dict[str, Any]]], dict[str, str]]


class DraftPersistence(BasePersistence[Data, Data, Data]):
    def __init__(
        self,
        db: Database,
        reports: ReportService,
        conversation: str,
        prompt_window: timedelta,
        update_interval: float = 5,
    ) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=False, user_data=False, callback_data=False
            ),
            update_interval=update_interval,
        )
        self.db = db
        self.reports = reports
        self.conversation = conversation
        self.prompt_window = prompt_window

    async def get_conversations(self, name: str) -> ConversationDict:
        if name != self.conversation:
            return {}
        since = to_epoch(self.reports.clock.now() - self.prompt_window)
        steps = await drafts.draft_steps(self.db.reader, since)
        return {key: step for key, step in steps.items()}

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        if name != self.conversation or new_state is None or not isinstance(new_state, int):
            return
        await self.reports.set_step(int(key[-1]), new_state)

    async def get_user_data(self) -> dict[int, Data]:
        return {}

    async def get_chat_data(self) -> dict[int, Data]:
        return {}

    async def get_bot_data(self) -> Data:
        return {}

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def update_user_data(self, user_id: int, data: Data) -> None:
        return None

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        return None

    async def update_bot_data(self, data: Data) -> None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        return None

    async def drop_chat_data(self, chat_id: int) -> None:
        return None

    async def drop_user_data(self, user_id: int) -> None:
        return None

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        return None

    async def refresh_bot_data(self, bot_data: Data) -> None:
        return None

    async def flush(self) -> None:
        return None
