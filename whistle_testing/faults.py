"""Failures the loopback server injects into the bot's calls: a random share of 429s,
500s, hangs and dropped connections (`FaultPlan`), or Telegram's own flood limits
(`TelegramLimits`). A fault source is any callable from a call to a `Fault` or None;
the server's `latency` adds the network's delay to every call."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from bot.bot_api import Method
from whistle_testing.protocol import int_or_none


@dataclass
class Fault:
    status: int = 500
    retry_after: int | None = None
    delay: float = 0.0
    drop: bool = False


@dataclass
class FaultPlan:
    """Failures injected on a share of the bot's calls (never on getUpdates unless asked)."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_hang: float = 0.0
    rate_drop: float = 0.0
    retry_after: int = 1
    hang_seconds: float = 30.0
    methods: frozenset[str] | None = None
    seed: int = 1
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def __call__(self, method: str, params: dict[str, Any]) -> Fault | None:
        if method == Method.GET_UPDATES or (
            self.methods is not None and method not in self.methods
        ):
            return None
        roll = self._rng.random()
        for rate, fault in (
            (self.rate_429, Fault(429, retry_after=self.retry_after)),
            (self.rate_500, Fault(500)),
            (self.rate_hang, Fault(504, delay=self.hang_seconds)),
            (self.rate_drop, Fault(drop=True)),
        ):
            if roll < rate:
                return fault
            roll -= rate
        return None


SENDING_METHODS = frozenset(
    {
        Method.SEND_MESSAGE,
        Method.SEND_PHOTO,
        Method.SEND_MEDIA_GROUP,
        Method.SEND_DOCUMENT,
        Method.SEND_LOCATION,
        Method.SEND_VENUE,
        Method.EDIT_MESSAGE_TEXT,
        Method.EDIT_MESSAGE_CAPTION,
        Method.EDIT_MESSAGE_REPLY_MARKUP,
    }
)


class TelegramLimits:
    """Answers 429 the way Telegram does when a bot goes over its limits: more than
    `overall` messages in any second, two messages to one private chat less than
    `private_interval` seconds apart, or more than `group_per_minute` to one group in
    any minute."""

    def __init__(
        self, overall: int = 30, private_interval: float = 0.95, group_per_minute: int = 20
    ) -> None:
        self.overall = overall
        self.private_interval = private_interval
        self.group_per_minute = group_per_minute
        self._all: list[float] = []
        self._last_private: dict[int, float] = {}
        self._group: dict[int, list[float]] = {}

    def __call__(self, method: str, params: dict[str, Any]) -> Fault | None:
        if method not in SENDING_METHODS:
            return None
        now = time.monotonic()
        chat = int_or_none(params.get("chat_id")) or 0
        self._all = [t for t in self._all if now - t < 1.0]
        if len(self._all) >= self.overall:
            return Fault(429, retry_after=1)
        if chat > 0:
            last = self._last_private.get(chat)
            if last is not None and now - last < self.private_interval:
                return Fault(429, retry_after=1)
            self._last_private[chat] = now
        else:
            recent = [t for t in self._group.get(chat, []) if now - t < 60.0]
            if len(recent) >= self.group_per_minute:
                return Fault(429, retry_after=3)
            self._group[chat] = [*recent, now]
        self._all.append(now)
        return None
