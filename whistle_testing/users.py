"""People with Telegram accounts who talk to the bot through the loopback server, and the
messages their chats hold: send text, photos and locations, tap buttons, wait for what the
bot sends (`expect`), and mark where to look from (`mark`)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whistle_testing.protocol import LoopbackBotApi


@dataclass
class SentMessage:
    """A message in a chat, as the server holds it (the bot's or a user's)."""

    chat_id: int
    message_id: int
    kind: str
    text: str = ""
    from_bot: bool = True
    reply_markup: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    edits: int = 0
    at: float = field(default_factory=time.monotonic)

    def buttons(self) -> list[tuple[str, str]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]

    def button(self, label: str) -> str:
        """The callback data of the first button whose label contains `label`."""
        for text, data in self.buttons():
            if label in text:
                return data
        raise LookupError(f"no button {label!r} on message {self.message_id}: {self.buttons()}")


class SimulatedUser:
    """A person with a Telegram account, talking to the bot through the loopback server."""

    def __init__(
        self,
        api: LoopbackBotApi,
        user_id: int,
        first_name: str,
        language_code: str,
        username: str | None,
    ) -> None:
        self.api = api
        self.id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.username = username

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }
        if self.username:
            data["username"] = self.username
        return data

    def _message(self, chat_id: int | None = None, **content: Any) -> dict[str, Any]:
        chat = chat_id if chat_id is not None else self.id
        if chat == self.id:
            for unreachable in (self.api.blocked, self.api.never_started, self.api.never_seen):
                unreachable.discard(self.id)
        message = {
            "message_id": self.api.next_message_id(chat),
            "from": self.json(),
            "chat": self.api.chat_json(chat),
            "date": unix_time(),
            **content,
        }
        self.api._keep(
            SentMessage(
                chat,
                message["message_id"],
                "user",
                str(content.get("text") or content.get("caption") or ""),
                False,
                None,
                message,
            )
        )
        for observer in self.api.observers:
            observer("user", self.api.messages[-1])
        return message

    async def send(self, text: str, chat_id: int | None = None) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        command_syntax = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
        if command_syntax is not None:
            # Like Telegram: only /word of ASCII letters, digits and _ is a bot_command.
            command = command_syntax.group(0)
            content["entities"] = [
                {
                    "type": "bot_command",
                    "offset": 0,
                    "length": len(command.encode("utf-16-le")) // 2,
                }
            ]
        message = self._message(chat_id, **content)
        await self.api.push_update({"message": message})
        return message

    async def edit(self, original: dict[str, Any], text: str) -> None:
        edited = {**original, "text": text, "edit_date": unix_time()}
        await self.api.push_update({"edited_message": edited})

    async def send_photo(self, caption: str | None = None, data: bytes = b"") -> str:
        info = self.api.new_file(data)
        sizes = [{**info, "width": 320, "height": 240}, {**info, "width": 1280, "height": 960}]
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        await self.api.push_update({"message": self._message(**content)})
        return str(info["file_id"])

    async def send_location(self, latitude: float, longitude: float) -> None:
        await self.api.push_update(
            {"message": self._message(location={"latitude": latitude, "longitude": longitude})}
        )

    async def send_raw(self, content: dict[str, Any]) -> None:
        await self.api.push_update({"message": self._message(**content)})

    async def tap(self, message: SentMessage, label: str) -> str:
        """Tap the button whose label contains `label`; returns the callback query id."""
        return await self.tap_data(message, message.button(label))

    async def tap_data(self, message: SentMessage, data: str) -> str:
        query_id = str(next(self.api._callback_ids))
        self.api.callback_answers[query_id] = {}
        await self.api.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.json(),
                    "message": message.raw,
                    "chat_instance": str(message.chat_id),
                    "data": data,
                }
            }
        )
        return query_id

    async def answer_to(self, query_id: str, timeout: float = 10.0) -> str | None:
        """The text the bot answered a tap with (waits for the answer)."""
        answer = await self.api.wait_for(lambda: self.api.callback_answers.get(query_id), timeout)
        text = answer.get("text")
        return str(text) if text is not None else None

    def inbox(self) -> list[SentMessage]:
        return [m for m in self.api.chat(self.id) if m.from_bot]

    async def expect(
        self, contains: str, after: int = 0, timeout: float = 10.0, button: str | None = None
    ) -> SentMessage:
        """The first bot message in this chat, from index `after` on, containing `contains`
        (and, if given, showing a button whose label contains `button`)."""
        return await self.api.expect(self.id, contains, after, timeout, button)

    def mark(self) -> int:
        return len(self.inbox())


def unix_time() -> int:
    return int(time.time())
