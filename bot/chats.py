"""Where things may be said: which commands work in which kind of chat.

A department's group (or any group the bot is in) sees issue cards, and anyone there may
tap their buttons; everything else the bot says concerns one person and goes to their
private chat. So in a group only the commands listed here work; every other command,
including any added later, answers with a hint to use the private chat and reveals
nothing. Only registered people get that hint, and a group gets at most one a minute: a
stranger (or anybody) flooding a group with commands must not crowd out its issue cards
in Telegram's per-group budget. Commands addressed to other bots get nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

BOT_COMMANDS: Final = frozenset(
    {
        "cancel",
        "help",
        "id",
        "invite",
        "issue",
        "lang",
        "my",
        "pending",
        "report",
        "reroute",
        "revoke",
        "start",
        "stats",
        "todo",
        "whistle",
    }
)
"""Every command the bot registers (bot/app.py adds a CommandHandler for each)."""
GROUP_COMMANDS: Final = frozenset({"help", "id"})
"""Commands that also work in a group chat; every other command is private-only."""

_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)")


def command_name(text: str | None, bot_username: str | None) -> str | None:
    """The command a message starts with, lower case ("/Stats@WhistleBot last" →
    "stats"); "" for a command addressed to another bot; None when it is no command."""
    if not text:
        return None
    match = _COMMAND.match(text)
    if match is None:
        return None
    addressee = match.group(2)
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return ""
    return match.group(1).lower()


def bot_command(text: str | None, bot_username: str | None) -> str | None:
    """The bot's own command a message starts with ("/cancel@WhistleBot" → "cancel"), or
    None: "/路灯还是不亮" or "/foo" are text, not commands of this bot."""
    name = command_name(text, bot_username)
    return name if name in BOT_COMMANDS else None


def works_in_group(command: str) -> bool:
    return command in GROUP_COMMANDS


GROUP_HINT_INTERVAL: Final = timedelta(minutes=1)


class GroupHints:
    """When each group was last given the 'use the private chat' hint."""

    def __init__(self, interval: timedelta = GROUP_HINT_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[int, datetime] = {}

    def due(self, chat_id: int, now: datetime) -> bool:
        """Whether the group may get a hint `now`; if so, it counts as given."""
        last = self._last.get(chat_id)
        if last is not None and now - last < self.interval:
            return False
        self._last[chat_id] = now
        return True
