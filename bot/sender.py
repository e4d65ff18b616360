"""The one sender that delivers the outbox to Telegram.

Per chat, one delivery at a time: the oldest of its most urgent pending items, so a
chat's messages keep their order and an urgent one overtakes normal ones; chats with
urgent items go first. Pacing: an aiolimiter budget overall (spaced, never bunched), and
a pause per chat measured from the moment a message leaves (1 s for a private chat, 3 s
for a group) — PTB's AIORateLimiter has no per-private-chat limit and pauses the whole
bot on one `RetryAfter`. Network errors and 5xx are retried with backoff, `RetryAfter`
pauses that chat, and a person who cannot be reached (blocked the bot, never opened a
chat with it: 403, or 400 "chat not found" for a private chat) is recorded and skipped,
and `on_unreachable` is told so the issue can go to somebody else. A department's group
the bot cannot write to (removed from it, a wrong id: 403, or 400 "chat not found") is
not marked like a person (nobody can /start a group; the bot may be added back): the item
fails and `on_group_unreachable` tells the admins, once until the group works again. A
group upgraded to a supergroup (ChatMigrated) is followed to its new id for as long as the
sender runs, and the admins are told the new id to put in the organisation file. With pacing
lifted, a chat's queue goes out in runs: several of its items from one read, one after
another (`RUN_LENGTH`).

Over a real network a call takes a round trip, so keeping Telegram's budget full needs
budget × round trip calls in flight: the slots grow with the measured round trip
(`slots`). An edit that would show exactly what the message already shows (the text and
buttons last sent to it) is not sent: it is recorded as delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    LinkPreviewOptions,
    Message,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.bot_api import Method
from bot.clock import Clock, to_epoch
from bot.records import OutboxItem
from storage import outbox, people
from storage.db import Database

log = logging.getLogger(__name__)

TRACKED_PURPOSES = frozenset({"push"})
"""Sent messages whose id is kept, so later state changes can edit them in place."""

RUN_LENGTH = 8
"""Items a chat may be sent one after another from one read when its pace allows (pacing
lifted, as against a Bot API server without Telegram's limits): without runs a chat gets
one message per read-and-record cycle of the sender, which under load is tens of
milliseconds. An urgent item queued for the chat meanwhile goes out after the run."""
UNPACED_SECONDS = 0.05
"""A pause per chat shorter than this counts as no pacing: chats are then read in runs."""
BUDGET_SHARE = 0.97
"""The share of the overall budget the sender spaces its calls by: calls reach Telegram
a network's jitter apart from when they left, and one more than the budget in any rolling
second is a 429."""
MAX_SLOTS = 64
"""Deliveries in flight at most, however long the round trip."""
SLOT_HEADROOM = 1.5
"""Slots kept beyond budget × round trip: calls wait for the budget, answers vary."""
RTT_WEIGHT = 0.2
"""Weight of each new round trip in the running estimate."""
SHOWN_KEPT = 10_000
"""Messages whose last shown text and buttons are remembered (the newest)."""


class OutboxSender:
    def __init__(
        self,
        db: Database,
        bot: Bot,
        clock: Clock,
        *,
        overall_per_second: float = 30.0,
        private_per_second: float = 1.0,
        group_per_minute: float = 20.0,
        max_backoff_seconds: int = 300,
        concurrency: int = 10,
        max_concurrency: int = MAX_SLOTS,
        on_unreachable: Callable[[int, bool], Awaitable[None]] | None = None,
        on_group_unreachable: Callable[[int, int | None], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.bot = bot
        self.clock = clock
        self.concurrency = concurrency
        """Deliveries in flight at least; more while the round trip is long (`slots`)."""
        self.max_concurrency = max(concurrency, max_concurrency)
        self._overall_per_second = overall_per_second
        self.round_trip: float | None = None
        """The running estimate of one Bot API call's round trip, in seconds."""
        self._shown: OrderedDict[tuple[int, int], str] = OrderedDict()
        """(chat, message) → a digest of the text and buttons it shows, as last sent."""
        self.edits_unchanged = 0
        """Edits not sent because the message already showed them."""
        self.max_backoff = max_backoff_seconds
        self.on_unreachable = on_unreachable
        """Called with the chat and whether it was marked just now, when a person cannot be
        reached: the first time, and again for every push that could not go to them."""
        self.on_group_unreachable = on_group_unreachable
        """Called with a group's chat id and, when it moved to a supergroup, its new id."""
        self._groups_told: set[int] = set()
        """Groups the admins were told about, until something reaches them again."""
        self._migrated: dict[int, int] = {}
        """Group chat id → the supergroup it was upgraded to (Telegram's ChatMigrated)."""
        self._set_limits(overall_per_second, private_per_second, group_per_minute)
        self._start_bookkeeping()

    def _set_limits(
        self, overall_per_second: float, private_per_second: float, group_per_minute: float
    ) -> None:
        """Telegram's limits as the sender keeps them: overall, per private chat, per group."""
        # Capacity 1: messages are spaced evenly, never bunched into a burst at the start
        # of a second, so no rolling second ever holds more than the budget.
        self._overall = AsyncLimiter(1, 1 / (overall_per_second * BUDGET_SHARE))
        self._private_interval = 1 / private_per_second
        self._group_interval = 60 / group_per_minute
        self._run_length = (
            RUN_LENGTH if min(self._private_interval, self._group_interval) < UNPACED_SECONDS else 1
        )

    def _start_bookkeeping(self) -> None:
        """What the sender tracks while it runs: its task, deliveries and chats in flight."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._deliveries: set[asyncio.Task[None]] = set()
        self._paused_until: dict[int, float] = {}
        """Per chat, the monotonic time before which nothing may be sent to it: the per-chat
        pace (set when a message leaves) or a RetryAfter."""
        self._chats_in_flight: set[int] = set()
        """Chats with a run of deliveries under way or delivered items not yet recorded:
        nothing else is sent to them until both are over."""
        self._running: set[int] = set()
        self._unrecorded: dict[int, int] = {}
        """Per chat, how many of its items Telegram accepted that are not yet recorded."""
        self._delivered: dict[int, tuple[OutboxItem, int | None]] = {}
        """Items Telegram accepted, by id, with the message each made, not yet recorded:
        the loop records them together before it next reads (their chats stay in flight
        until then)."""
        self._settled_during_read: set[int] = set()
        """Chats whose delivery was recorded while the current list of heads was being read:
        their head in that list may already be sent, so it waits for the next read."""

    def wake(self) -> None:
        """Tell the sender that new items were committed."""
        self._wake.set()

    @property
    def slots(self) -> int:
        """Deliveries allowed in flight: enough to keep the overall budget full over the
        measured round trip (budget × round trip, with headroom), at least `concurrency`,
        at most `max_concurrency`."""
        if self.round_trip is None:
            return self.concurrency
        needed = math.ceil(self._overall_per_second * self.round_trip * SLOT_HEADROOM)
        return max(self.concurrency, min(self.max_concurrency, needed))

    def observe_round_trip(self, seconds: float) -> None:
        """One call's round trip, as measured: folded into the running estimate."""
        if self.round_trip is None:
            self.round_trip = seconds
        else:
            self.round_trip += RTT_WEIGHT * (seconds - self.round_trip)

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="whistle-outbox-sender")

    async def stop(self) -> None:
        """Stop taking new items; deliveries under way finish first."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)
        await self._record_delivered()

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before the read, so a delivery recorded during it wakes the next one.
            self._wake.clear()
            try:
                await self._record_delivered()
                launched = await self._launch_due()
            except Exception:
                log.exception("outbox delivery failed to start; retrying shortly")
                launched = 0
            if launched == 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._idle_wait())

    async def _launch_due(self) -> int:
        """Start delivering the head of every due chat queue that has no delivery under way,
        most urgent first, up to the number of free delivery slots."""
        free = self.slots - len(self._deliveries)
        if free <= 0:
            return 0
        self._settled_during_read = set()
        # Heads of chats in flight or paused are read but skipped: read enough beyond them
        # that they cannot crowd out the chats that may be sent to now.
        items = await outbox.next_batch(
            self.db.reader,
            self._now(),
            free + len(self._chats_in_flight) + len(self._paused_until),
            per_chat=self._run_length,
        )
        settled, self._settled_during_read = self._settled_during_read, set()
        runs: dict[int, list[OutboxItem]] = {}
        for item in items:
            runs.setdefault(item.chat_id, []).append(item)
        launched = 0
        for chat_id, run in runs.items():
            if launched == free:
                break
            if chat_id in self._chats_in_flight or chat_id in settled or self._paused(chat_id):
                continue
            self._chats_in_flight.add(chat_id)
            self._running.add(chat_id)
            task = asyncio.create_task(self._deliver_run(run))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
            launched += 1
        return launched

    def _pause_chat(self, chat_id: int, seconds: float) -> None:
        """Nothing goes to this chat for `seconds`, urgent or not."""
        until = time.monotonic() + seconds
        self._paused_until[chat_id] = max(until, self._paused_until.get(chat_id, until))

    def _idle_wait(self) -> float:
        """How long to sleep when nothing could start: until the next paced chat opens."""
        now = time.monotonic()
        upcoming = [t - now for t in self._paused_until.values() if t > now]
        return max(0.01, min([1.0, *upcoming]))

    def _paused(self, chat_id: int) -> bool:
        until = self._paused_until.get(chat_id)
        if until is None:
            return False
        if until <= time.monotonic():
            del self._paused_until[chat_id]
            return False
        return True

    def _pace(self, chat_id: int) -> float:
        return self._group_interval if chat_id < 0 else self._private_interval

    async def _deliver_run(self, run: list[OutboxItem]) -> None:
        """Deliver a chat's items in order, one at a time, the first always, each next one
        while the chat's pace allows and the one before it was accepted."""
        chat_id = run[0].chat_id
        cards: dict[int, int] = {}
        """Issue → the card message this run sent: edits later in the run edit it."""
        try:
            for place, item in enumerate(run):
                if place > 0 and (
                    self._stopping or self._paused(chat_id) or item.not_before > self._now()
                ):
                    break
                if item.issue_id in cards and item.method.startswith("edit"):
                    item = dataclasses.replace(item, card_message_id=cards[item.issue_id])
                await self._deliver(item)
                accepted = self._delivered.get(item.id)
                if accepted is None:
                    break
                message_id = accepted[1]
                if item.purpose in TRACKED_PURPOSES and item.issue_id and message_id:
                    cards[item.issue_id] = message_id
        except Exception:
            log.exception(
                "an outbox item to chat %s could not be recorded; it stays pending", chat_id
            )
        finally:
            # Only this sender changes an item once it is queued, one delivery per chat at
            # a time. Items sent are recorded by the loop before its next read, and the
            # chat waits for that; any other outcome was recorded at once, and a read under
            # way meanwhile is not trusted for this chat.
            self._running.discard(chat_id)
            self._settled_during_read.add(chat_id)
            self._release(chat_id)
            self._wake.set()

    def _release(self, chat_id: int) -> None:
        """The chat may be sent to again once its run is over and its deliveries recorded."""
        if chat_id not in self._running and not self._unrecorded.get(chat_id):
            self._chats_in_flight.discard(chat_id)

    async def wait_idle(self) -> None:
        """Wait until nothing in the outbox is due and no delivery is under way
        (callers bound it with asyncio.timeout)."""
        while True:
            due = await outbox.next_batch(self.db.reader, self._now(), 1)
            if not due and not self._deliveries:
                return
            self._wake.set()
            await asyncio.sleep(0.01)

    async def _deliver(self, item: OutboxItem) -> None:
        payload: dict[str, Any] = {
            "chat_id": self._migrated.get(item.chat_id, item.chat_id),
            **item.payload,
        }
        if item.method.startswith("edit"):
            if item.card_message_id is None:
                async with self.db.one_statement() as conn:
                    await outbox.mark_failed(conn, item.id, self._now(), "no message to edit")
                return
            payload["message_id"] = item.card_message_id
            key = (payload["chat_id"], item.card_message_id)
            if self._shown.get(key) == _shown(payload):
                # The message already shows this: nothing new for the chat's budget.
                self.edits_unchanged += 1
                self._sent(item, item.card_message_id)
                return
            # Until Telegram answers, what the message shows is not known: a call that
            # times out may still have made the edit, and the next edit must then go out.
            self._shown.pop(key, None)
        try:
            if item.chat_blocked:
                raise Forbidden("Forbidden: the chat has blocked the bot (recorded earlier)")
            async with self._overall:
                self._pause_chat(item.chat_id, self._pace(item.chat_id))
                began = time.monotonic()
                message_id = await self._call(item.method, payload)
                self.observe_round_trip(time.monotonic() - began)
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            self._pause_chat(item.chat_id, seconds)
            await self._retry(item, int(seconds) + 1, f"RetryAfter {seconds}")
        except Forbidden as exc:
            if item.chat_id < 0:
                await self._group_unreachable(item, str(exc))
            else:
                await self._blocked(item, str(exc))
        except ChatMigrated as exc:
            await self._group_migrated(item, int(exc.new_chat_id))
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                self._remember_shown(payload, item.card_message_id)
                self._sent(item, None)
            elif "chat not found" in exc.message.lower():
                if item.chat_id < 0:
                    await self._group_unreachable(item, exc.message)
                else:
                    await self._blocked(item, exc.message)
            else:
                await self._fail(item, exc.message, expected=_expected(exc.message))
        except NetworkError as exc:
            backoff = min(self.max_backoff, 2 ** min(item.attempts, 16))
            await self._retry(item, backoff, f"{type(exc).__name__}: {exc}")
        except TelegramError as exc:
            await self._fail(item, f"{type(exc).__name__}: {exc}")
        else:
            self._remember_shown(payload, message_id)
            self._sent(item, message_id)

    def _remember_shown(self, payload: dict[str, Any], message_id: int | None) -> None:
        """What a message now shows, for the edits after it (text and buttons only)."""
        if message_id is None or not isinstance(payload.get("chat_id"), int):
            return
        key = (payload["chat_id"], message_id)
        self._shown[key] = _shown(payload)
        self._shown.move_to_end(key)
        while len(self._shown) > SHOWN_KEPT:
            self._shown.popitem(last=False)

    async def _call(self, method: str, payload: dict[str, Any]) -> int | None:
        """Send one outbox item through PTB's typed method; the id of the message it made."""
        kwargs = dict(payload)
        if "reply_markup" in kwargs:
            kwargs["reply_markup"] = InlineKeyboardMarkup.de_json(kwargs["reply_markup"], self.bot)
        if "attachment" in kwargs:
            stored = await outbox.attachment(self.db.reader, int(kwargs.pop("attachment")))
            if stored is None:
                raise BadRequest("the attachment of this outbox item is gone")
            upload = InputFile(stored[1], filename=stored[0])
            kwargs["photo" if method == Method.SEND_PHOTO else "document"] = upload
        if "link_preview_options" in kwargs:
            kwargs["link_preview_options"] = LinkPreviewOptions(**kwargs["link_preview_options"])
        match method:
            case Method.SEND_MESSAGE:
                return (await self.bot.send_message(**kwargs)).message_id
            case Method.EDIT_MESSAGE_TEXT:
                result = await self.bot.edit_message_text(**kwargs)
                return result.message_id if isinstance(result, Message) else None
            case Method.EDIT_MESSAGE_CAPTION:
                result = await self.bot.edit_message_caption(**kwargs)
                return result.message_id if isinstance(result, Message) else None
            case Method.SEND_PHOTO:
                return (await self.bot.send_photo(**kwargs)).message_id
            case Method.SEND_MEDIA_GROUP:
                kwargs["media"] = [
                    InputMediaPhoto(m["media"], caption=m.get("caption")) for m in kwargs["media"]
                ]
                return (await self.bot.send_media_group(**kwargs))[0].message_id
            case Method.SEND_DOCUMENT:
                return (await self.bot.send_document(**kwargs)).message_id
            case Method.SEND_LOCATION:
                return (await self.bot.send_location(**kwargs)).message_id
            case Method.SEND_VENUE:
                return (await self.bot.send_venue(**kwargs)).message_id
        raise BadRequest(f"outbox method {method} is not supported")

    def _now(self) -> int:
        return to_epoch(self.clock.now())

    def _sent(self, item: OutboxItem, message_id: int | None) -> None:
        """Telegram accepted the item: recorded with the others before the next read."""
        self._groups_told.discard(item.chat_id)
        self._delivered[item.id] = (item, message_id)
        self._unrecorded[item.chat_id] = self._unrecorded.get(item.chat_id, 0) + 1

    async def _record_delivered(self) -> None:
        """Record every delivery since the last time, in two statements: the messages that
        show cards first, then the items as sent — each atomic by itself. A crash before
        or between them leaves items pending: they are sent again (at least once, as every
        delivery), and the card's record then names the newer message."""
        if not self._delivered:
            return
        delivered, self._delivered = list(self._delivered.values()), {}
        try:
            pushes = [
                (item.issue_id, item.chat_id, message_id, item.method)
                for item, message_id in delivered
                if item.purpose in TRACKED_PURPOSES and item.issue_id and message_id
            ]
            if pushes:
                async with self.db.one_statement() as conn:
                    await outbox.record_pushes(conn, pushes)
            async with self.db.one_statement() as conn:
                await outbox.mark_sent(
                    conn, self._now(), [(item.id, message_id) for item, message_id in delivered]
                )
        except Exception:
            log.exception(
                "%d delivered outbox items could not be recorded; they stay pending",
                len(delivered),
            )
        finally:
            for item, _ in delivered:
                left = self._unrecorded.pop(item.chat_id, 0) - 1
                if left > 0:
                    self._unrecorded[item.chat_id] = left
                self._release(item.chat_id)

    async def _retry(self, item: OutboxItem, after_seconds: int, error: str) -> None:
        log.warning(
            "outbox item %s to chat %s: %s; retry in %ss",
            item.id,
            item.chat_id,
            error,
            after_seconds,
        )
        async with self.db.one_statement() as conn:
            await outbox.mark_retry(conn, item.id, self._now() + after_seconds, error)

    async def _fail(self, item: OutboxItem, error: str, *, expected: bool = False) -> None:
        """Give up on an item: at WARNING when the cause is one a street meets in normal
        use (a group that is gone or was upgraded, a message deleted before its edit),
        at ERROR when it points at a bug."""
        log.log(
            logging.WARNING if expected else logging.ERROR,
            "outbox item %s to chat %s failed: %s",
            item.id,
            item.chat_id,
            error,
        )
        async with self.db.one_statement() as conn:
            await outbox.mark_failed(conn, item.id, self._now(), error)

    async def _group_unreachable(self, item: OutboxItem, error: str) -> None:
        """A group the bot cannot write to: the item fails, and the admins hear of it once
        (one WARNING too), until something reaches the group again."""
        first_time = item.chat_id not in self._groups_told
        self._groups_told.add(item.chat_id)
        (log.warning if first_time else log.info)(
            "group %s cannot be reached: %s", item.chat_id, error
        )
        async with self.db.one_statement() as conn:
            await outbox.mark_failed(conn, item.id, self._now(), error)
        if first_time:
            await self._tell_group(item.chat_id, None)

    async def _group_migrated(self, item: OutboxItem, new_chat_id: int) -> None:
        """The group became a supergroup: this item (and every later one while the sender
        runs) goes to the new id at once, and the admins are told to update the file."""
        first_time = self._migrated.get(item.chat_id) != new_chat_id
        self._migrated[item.chat_id] = new_chat_id
        if first_time:
            log.warning("group %s was upgraded to supergroup %s", item.chat_id, new_chat_id)
        async with self.db.one_statement() as conn:
            await outbox.mark_retry(conn, item.id, self._now(), f"chat migrated to {new_chat_id}")
        if first_time:
            await self._tell_group(item.chat_id, new_chat_id)

    async def _tell_group(self, chat_id: int, new_chat_id: int | None) -> None:
        if self.on_group_unreachable is None:
            return
        try:
            await self.on_group_unreachable(chat_id, new_chat_id)
        except Exception:
            log.exception("telling the admins about group %s failed", chat_id)

    async def _blocked(self, item: OutboxItem, error: str) -> None:
        """The chat cannot be reached: recorded, its queue dropped, and the owner told (the
        first time, and for a push, whose issue waits for somebody who never sees it)."""
        log.warning("chat %s cannot be reached: %s", item.chat_id, error)
        async with self.db.write() as tx:
            await outbox.mark_failed(tx, item.id, self._now(), error)
            await outbox.fail_pending_for_chat(tx, item.chat_id, error)
            first_time = await people.mark_blocked(tx, item.chat_id, self._now())
        if self.on_unreachable is not None and (first_time or item.purpose == "push"):
            try:
                await self.on_unreachable(item.chat_id, first_time)
            except Exception:
                log.exception("handling unreachable chat %s failed", item.chat_id)


EXPECTED_FAILURES = ("chat not found", "message to edit not found", "message can't be edited")
"""Bot API answers a delivery meets in normal use: the chat is gone, or the message to edit."""


def _expected(message: str) -> bool:
    lowered = message.lower()
    return any(part in lowered for part in EXPECTED_FAILURES)


def _shown(payload: dict[str, Any]) -> str:
    """A digest of what a message shows when sent or edited with `payload`: its text or
    caption, how it is parsed, and its buttons (none and an empty keyboard alike)."""
    markup = payload.get("reply_markup") or None
    if isinstance(markup, dict) and not any(markup.get("inline_keyboard") or []):
        markup = None
    visible = [
        payload.get("text"),
        payload.get("caption"),
        payload.get("parse_mode"),
        payload.get("link_preview_options"),
        markup,
    ]
    return hashlib.blake2b(
        json.dumps(visible, sort_keys=True, ensure_ascii=False, default=str).encode(),
        digest_size=16,
    ).hexdigest()
