"""Writing a report: the draft, step by step, until the worker submits it.

The draft lives in the database and its `step` is the conversation's state, so a
half-written report survives a restart or a crash of the bot.

Every change to a draft goes through `ReportService` (the conversation's persistence and
the submit transaction included), so it also keeps the drafts it has read or written in
memory: a report's eight steps read the draft once from the database instead of nine
times. The database stays the truth; what is kept is only ever a copy of a committed row.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace

import aiosqlite

from bot.clock import Clock, to_epoch
from bot.permissions import Actor
from bot.records import Directory, Draft
from bot.report_steps import Step
from bot.services.refusal import Refused
from bot.views import Names, Rendered, report_prompt
from storage import drafts as store
from storage import issues as issue_store
from storage.db import Database

_UNSEEN_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})
"""Spaces, controls, format characters (zero-width, direction marks), unassigned code
points and marks that only combine with a character before them: none shows by itself."""
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5")
"""Letters and symbols that draw as blank space (Hangul fillers, the blank Braille
pattern, Khmer inherent vowels)."""


def visible(text: str) -> bool:
    """Whether `text` shows at least one character; only spaces and invisible characters
    (U+200B, ZWJ, U+2060, U+FEFF, U+202E, U+3164, U+2800, ...) do not count."""
    return any(
        ch not in _BLANK_LETTERS and unicodedata.category(ch) not in _UNSEEN_CATEGORIES
        for ch in text
    )


def clean_text(raw: str | None, limit: int) -> str:
    """User text as stored: control characters removed (line breaks kept), trimmed, bounded.
    Raises Refused when nothing visible is left or it is too long."""
    if raw is None:
        raise Refused("report_expect_text")
    cleaned = "".join(
        ch for ch in raw if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs", "Co")
    ).strip()
    if not visible(cleaned):
        raise Refused("report_expect_text")
    if len(cleaned) > limit:
        raise Refused("report_text_too_long", max=limit)
    return cleaned


async def check_report_quota(
    conn: aiosqlite.Connection, user_id: int, now: int, per_hour: int
) -> None:
    """Refused when the person has already reported `per_hour` issues in the last hour:
    a flood gets a polite answer instead of filling the database."""
    if await issue_store.reported_since(conn, user_id, now - 3600) >= per_hour:
        raise Refused("report_rate_limited", limit=per_hour)


KEPT_DRAFTS = 5000
"""How many people's drafts (or their having none) are kept in memory; the oldest go first."""


def _copy(draft: Draft | None) -> Draft | None:
    """A draft the caller may change without changing the kept one."""
    return None if draft is None else replace(draft, photos=list(draft.photos))


class ReportService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        max_photos: int,
        max_text: int,
        per_hour: int,
        directory: Callable[[], Awaitable[Directory]],
        actor: Callable[[int], Awaitable[Actor]],
    ) -> None:
        self.directory = directory
        self.actor = actor
        self.db = db
        self.clock = clock
        self.max_photos = max_photos
        self.max_text = max_text
        self.per_hour = per_hour
        self._kept: dict[int, Draft | None] = {}

    def _keep(self, user_id: int, draft: Draft | None) -> None:
        self._kept.pop(user_id, None)
        if len(self._kept) >= KEPT_DRAFTS:
            del self._kept[next(iter(self._kept))]
        self._kept[user_id] = _copy(draft)

    def forget(self, user_id: int) -> None:
        """The draft may have changed in the database outside this service's writes (the
        submit transaction): read it from there next time."""
        self._kept.pop(user_id, None)

    async def current(self, user_id: int) -> Draft | None:
        if user_id in self._kept:
            return _copy(self._kept[user_id])
        draft = await store.get_draft(self.db.reader, user_id)
        self._keep(user_id, draft)
        return draft

    async def _save(self, draft: Draft) -> Draft:
        now = to_epoch(self.clock.now())
        draft.waiting_since = now
        try:
            async with self.db.one_statement() as conn:
                await store.save_draft(conn, draft, now)
        except BaseException:
            self.forget(draft.user_id)
            raise
        self._keep(draft.user_id, draft)
        return draft

    async def pause(self, user_id: int) -> None:
        """The person started something else: the draft is kept but no longer waits for
        input (a restart does not bring it back as a conversation)."""
        draft = await self.current(user_id)
        if draft is not None and draft.waiting_since is not None:
            await self._set_waiting(draft, None)

    async def resume(self, user_id: int) -> None:
        """The draft's step is asked again: it waits for input from now (a person without
        a draft, or whose draft already waits since now, changes nothing)."""
        draft = await self.current(user_id)
        now = to_epoch(self.clock.now())
        if draft is not None and draft.waiting_since != now:
            await self._set_waiting(draft, now)

    async def _set_waiting(self, draft: Draft, since: int | None) -> None:
        draft.waiting_since = since
        try:
            async with self.db.one_statement() as conn:
                await store.set_waiting(conn, draft.user_id, since)
        except BaseException:
            self.forget(draft.user_id)
            raise
        self._keep(draft.user_id, draft)

    async def prompt(self, draft: Draft, lang: str) -> Rendered:
        """What the worker sees at the draft's step: the grids they work on, the categories
        in use."""
        actor = await self.actor(draft.user_id)
        directory = await self.directory()
        grids = [(c, n) for c, n in directory.active["grid"] if c in actor.grids]
        tables = directory.names
        names = Names(tables["department"], tables["category"], tables["grid"], {})
        return report_prompt(lang, draft, grids, directory.active["category"], names)

    async def _draft(self, user_id: int) -> Draft:
        draft = await self.current(user_id)
        if draft is None:
            raise Refused("report_already_submitted")
        return draft

    async def begin(
        self,
        user_id: int,
        chat_id: int,
        *,
        description: str | None = None,
        photo: tuple[str, str | None] | None = None,
        offer: bool = False,
    ) -> Draft:
        """Start a draft (or return the unfinished one); `offer` asks first whether to start."""
        existing = await self.current(user_id)
        if existing is not None:
            return await self.recheck(existing)
        actor = await self.actor(user_id)
        if not actor.grids:
            raise Refused("report_not_worker")
        await check_report_quota(self.db.reader, user_id, to_epoch(self.clock.now()), self.per_hour)
        active = {code for code, _ in (await self.directory()).active["grid"]}
        grids = sorted(actor.grids & active)
        if not grids:
            raise Refused("report_not_worker")
        draft = Draft(
            user_id=user_id,
            chat_id=chat_id,
            draft_key=uuid.uuid4().hex,
            step=Step.CATEGORY,
            started_at=to_epoch(self.clock.now()),
            grid_code=grids[0] if len(grids) == 1 else None,
        )
        if description is not None:
            draft.description = clean_text(description, self.max_text)
        if photo is not None:
            draft.photos.append(photo)
        draft.step = Step.OFFER if offer else self._after_start(draft)
        return await self._save(draft)

    async def recheck(self, draft: Draft) -> Draft:
        """A draft whose category an import retired goes back to choosing one; what the
        worker wrote, photographed and located is kept."""
        if draft.category_code is None or draft.step in (Step.GRID, Step.CATEGORY, Step.OFFER):
            return draft
        active = {code for code, _ in (await self.directory()).active["category"]}
        if draft.category_code in active:
            return draft
        draft.category_code = None
        draft.step = Step.CATEGORY
        return await self._save(draft)

    async def category_gone(self, user_id: int) -> Draft:
        """提交 found the draft's category retired: choose again (see `recheck`)."""
        return await self.recheck(await self._draft(user_id))

    @staticmethod
    def _after_start(draft: Draft) -> Step:
        return Step.CATEGORY if draft.grid_code else Step.GRID

    async def accept_offer(self, user_id: int) -> Draft:
        draft = await self._draft(user_id)
        if draft.step == Step.OFFER:
            draft.step = self._after_start(draft)
            await self._save(draft)
        return draft

    async def choose_grid(self, user_id: int, grid: str) -> Draft:
        draft = await self._draft(user_id)
        actor = await self.actor(user_id)
        if grid not in actor.grids:
            raise Refused("ans_bad_button")
        draft.grid_code = grid
        draft.step = Step.CATEGORY
        return await self._save(draft)

    async def choose_category(self, user_id: int, category: str) -> Draft:
        draft = await self._draft(user_id)
        active = {code for code, _ in (await self.directory()).active["category"]}
        if category not in active:
            raise Refused("report_category_gone")
        draft.category_code = category
        if not draft.description:
            draft.step = Step.DESCRIPTION
        elif draft.urgent is not None:
            draft.step = Step.CONFIRM  # chosen again after an import: back to the summary
        else:
            draft.step = Step.PHOTOS
        return await self._save(draft)

    async def describe(self, user_id: int, raw: str | None) -> Draft:
        draft = await self._draft(user_id)
        draft.description = clean_text(raw, self.max_text)
        draft.step = Step.PHOTOS
        return await self._save(draft)

    async def add_photo(self, user_id: int, file_id: str, unique_id: str | None) -> Draft:
        draft = await self._draft(user_id)
        if len(draft.photos) >= self.max_photos:
            raise Refused("report_too_many_photos", max=self.max_photos)
        if all(p[0] != file_id for p in draft.photos):
            draft.photos.append((file_id, unique_id))
        return await self._save(draft)

    async def photos_done(self, user_id: int) -> Draft:
        draft = await self._draft(user_id)
        draft.step = Step.LOCATION
        return await self._save(draft)

    async def locate(
        self,
        user_id: int,
        *,
        latitude: float | None = None,
        longitude: float | None = None,
        address: str | None = None,
    ) -> Draft:
        draft = await self._draft(user_id)
        if latitude is not None and longitude is not None:
            if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
                raise Refused("report_expect_location")
            draft.latitude, draft.longitude = latitude, longitude
        if address is not None:
            draft.address = clean_text(address, 200)
        draft.step = Step.URGENCY
        return await self._save(draft)

    async def skip_location(self, user_id: int) -> Draft:
        draft = await self._draft(user_id)
        draft.step = Step.URGENCY
        return await self._save(draft)

    async def set_urgency(self, user_id: int, urgent: bool) -> Draft:
        draft = await self._draft(user_id)
        draft.urgent = urgent
        draft.step = Step.CONFIRM
        return await self._save(draft)

    async def discard(self, user_id: int) -> bool:
        self.forget(user_id)
        async with self.db.one_statement() as conn:
            dropped = await store.delete_draft(conn, user_id)
        self._keep(user_id, None)
        return dropped

    async def set_step(self, user_id: int, step: int) -> None:
        """The conversation's state, as PTB's persistence hands it over."""
        async with self.db.one_statement() as conn:
            await store.set_step(conn, user_id, step)
        kept = self._kept.get(user_id)
        if kept is not None:
            kept.step = step
