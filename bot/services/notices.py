"""Everything the bot must say because of a state change, written to the outbox inside
that change's transaction. Nothing here sends: the outbox sender delivers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import aiosqlite

from bot.bot_api import Method
from bot.callbacks import IssueButton, issue_button
from bot.i18n import Html, plain, text
from bot.lifecycle import ASSIGNED_STATES, AWAITING_ARRIVAL, OPEN_STATES, State, SummonState
from bot.maps import MapApp
from bot.message_limits import CAPTION_LIMIT, TEXT_LIMIT, shorten_html, visible_length
from bot.records import Directory, IssueRecord
from bot.services.languages import Languages
from bot.views import (
    OVERDUE_ENDS,
    Audience,
    Buttons,
    Names,
    Rendered,
    issue_card,
    keyboard,
    reporter_buttons,
    shows_resolution_note,
)
from bot.whistle_views import WhistleButton, whistle_button, whistle_buttons, whistle_section
from storage import followers as follower_store
from storage import issues as issue_store
from storage import org as org_store
from storage import outbox, people
from storage import whistles as whistle_store

MEDIA_GROUP_LIMIT = 10


class Roster(Protocol):
    """Who the admins are and what people are called, kept in memory by the people
    service (the rule for when it forgets them lives there)."""

    async def admins(self) -> tuple[int, ...]: ...

    async def display_names(
        self, conn: aiosqlite.Connection, user_ids: Iterable[int]
    ) -> dict[int, str]: ...


class Notices:
    def __init__(
        self,
        languages: Languages,
        zone: ZoneInfo,
        directory: Callable[[], Awaitable[Directory]] | None = None,
        roster: Roster | None = None,
        maps: Sequence[MapApp] = (),
    ) -> None:
        self.languages = languages
        self.maps = tuple(maps)
        """The map apps a card's shared location links to (WHISTLE_MAP_LINKS)."""
        self._roster = roster
        self.zone = zone
        self._directory = directory

    async def language(self, conn: aiosqlite.Connection, chat_id: int) -> str:
        return await self.languages.of(conn, chat_id)

    async def names(self, conn: aiosqlite.Connection, people_ids: Iterable[int | None]) -> Names:
        tables = (
            (await self._directory()).names
            if self._directory is not None
            else await org_store.name_tables(conn)
        )
        ids = {i for i in people_ids if i is not None}
        return Names(
            departments=tables["department"],
            categories=tables["category"],
            grids=tables["grid"],
            people=await self.display_names(conn, ids),
        )

    async def admins(self, conn: aiosqlite.Connection) -> tuple[int, ...]:
        if self._roster is not None:
            return await self._roster.admins()
        return tuple(await people.active_admins(conn))

    async def display_names(self, conn: aiosqlite.Connection, ids: set[int]) -> dict[int, str]:
        if self._roster is not None:
            return await self._roster.display_names(conn, ids)
        return await people.display_names(conn, ids)

    async def issue_names(self, conn: aiosqlite.Connection, issue: IssueRecord) -> Names:
        return await self.names(conn, [issue.reporter_id, issue.assignee_id])

    async def group_chat(self, conn: aiosqlite.Connection, department: str | None) -> int | None:
        """The department's group, if it has one (from the organisation file)."""
        if department is None:
            return None
        if self._directory is not None:
            return (await self._directory()).group_chats.get(department)
        return await org_store.group_chat(conn, department)

    async def active_departments(self, conn: aiosqlite.Connection) -> list[tuple[str, str]]:
        return await org_store.active_codes(conn, "department")

    async def resolution_note(self, conn: aiosqlite.Connection, issue: IssueRecord) -> str | None:
        """The member's note on resolving, when the issue's card shows it."""
        if not shows_resolution_note(issue):
            return None
        return await issue_store.resolution_note(conn, issue.id)

    async def card(
        self,
        conn: aiosqlite.Connection,
        issue: IssueRecord,
        chat_id: int,
        audience: Audience,
        *,
        names: Names,
        resolution_note: str | None,
        captioned: bool = False,
    ) -> Rendered:
        """The issue's card for one chat; `names` (`issue_names`) and `resolution_note`
        are the issue's, the same in every chat, so a caller with several chats reads them
        once."""
        lang = await self.language(conn, chat_id)
        reroute_to, reassign_to, overdue = await self._steering(conn, issue, audience)
        limit = CAPTION_LIMIT if captioned else TEXT_LIMIT
        # 附议: how many workers reported the same problem, on every card.
        seconded = await follower_store.count(conn, issue.id, "second")
        section, extra_buttons = await self._whistle_part(
            conn, issue, chat_id, audience, lang, names
        )

        def whole(card: Html) -> Html:
            if seconded:
                seconds = text(lang, "card_seconded", n=seconded)
                card = text(lang, "card_with_line", card=card, line=seconds)
            return card if section is None else Html(f"{card}\n\n{section}")

        # The whole card fits Telegram's limit: the issue's own part is fitted to the room
        # the lines after it leave (shortening what people wrote), and should those lines
        # alone not leave room, the whole is cut with "…" (every step stays on /issue N).
        room = max(1, limit - visible_length(whole(Html(""))))
        rendered = issue_card(
            lang,
            issue,
            names,
            self.zone,
            audience,
            resolution_note=resolution_note,
            reroute_to=reroute_to,
            reassign_to=reassign_to,
            limit=room,
            maps=self.maps,
            overdue=overdue,
        )
        body = whole(rendered.text)
        if visible_length(body) > limit:
            body = Html(shorten_html(body, limit))
        return Rendered(body, [*rendered.buttons, *extra_buttons])

    async def _steering(
        self, conn: aiosqlite.Connection, issue: IssueRecord, audience: Audience
    ) -> tuple[list[tuple[str, str]], list[tuple[int, str]], bool]:
        """What the steering buttons need: for the admins the departments to 改派 to and
        whether the issue is overdue since it last moved on; for a head the members to
        hand it to."""
        reroute_to: list[tuple[str, str]] = []
        reassign_to: list[tuple[int, str]] = []
        overdue = False
        if audience == Audience.ADMIN:
            reroute_to = await self.active_departments(conn)
            overdue = issue.escalated and await issue_store.escalated_since(
                conn, issue.id, OVERDUE_ENDS
            )
        if audience == Audience.HEAD and issue.department_code is not None:
            members = await people.department_members(conn, issue.department_code)
            member_names = await self.display_names(conn, set(members))
            reassign_to = [(m, member_names.get(m) or str(m)) for m in members]
        return reroute_to, reassign_to, overdue

    # 联合吹哨: the summoned departments on every card of a whistle, and its buttons
    async def _whistle_part(
        self,
        conn: aiosqlite.Connection,
        issue: IssueRecord,
        chat_id: int,
        audience: Audience,
        lang: str,
        names: Names,
    ) -> tuple[Html | None, Buttons]:
        """The whistle's section of the card (None: not a whistle) and its buttons."""
        whistle = await whistle_store.get_whistle(conn, issue.id)
        if whistle is None:
            if audience == Audience.ADMIN and issue.state in OPEN_STATES:
                start = whistle_button(WhistleButton.START, issue.id)
                return None, [[(plain(lang, "wh_btn_blow"), start)]]
            return None, []
        summoned = await whistle_store.summoned(conn, issue.id)
        arrivals = {s.arrived_by for s in summoned if s.arrived_by is not None}
        if names.departments or names.people:
            extra = await self.display_names(conn, arrivals - set(names.people))
            names = Names(
                names.departments, names.categories, names.grids, {**names.people, **extra}
            )
        section = whistle_section(lang, whistle, summoned, names, self.zone)
        mine: set[str] = set()
        if issue.state in OPEN_STATES:
            if chat_id < 0:
                for s in summoned:
                    if await self.group_chat(conn, s.department_code) == chat_id:
                        mine.add(s.department_code)
            else:
                mine = set((await people.load_actor(conn, chat_id)).departments)
        arrive_for = [
            s.department_code
            for s in summoned
            if s.department_code in mine and SummonState(s.state) in AWAITING_ARRIVAL
        ]
        done_for = [
            s.department_code
            for s in summoned
            if s.department_code in mine
            and s.department_code != whistle.lead
            and s.state == SummonState.ARRIVED
        ]
        return section, whistle_buttons(lang, issue.id, arrive_for, done_for, names)

    async def buttons_seen(
        self, conn: aiosqlite.Connection, issue: IssueRecord, user_id: int, chat_id: int
    ) -> Buttons:
        """Every button the person can see on this issue in this chat, as the issue is now:
        the card as the chat's audience gets it (built by the same function), and in the
        reporter's private chat what their notices offer."""
        audience = await self.audience(conn, issue, chat_id)
        card = await self.card(
            conn, issue, chat_id, audience, names=Names({}, {}, {}, {}), resolution_note=None
        )
        buttons = list(card.buttons)
        if chat_id == user_id == issue.reporter_id:
            buttons += reporter_buttons(await self.language(conn, user_id), issue)
        elif chat_id == user_id and user_id in await follower_store.followers(conn, issue.id):
            # followers (附议, merged duplicates): what their notices offer
            buttons += reporter_buttons(await self.language(conn, user_id), issue)
        return buttons

    async def audience(
        self, conn: aiosqlite.Connection, issue: IssueRecord, chat_id: int
    ) -> Audience:
        if issue.state in ASSIGNED_STATES:
            if chat_id == issue.assignee_id:
                return Audience.ASSIGNEE
            if chat_id == await self.group_chat(conn, issue.department_code):
                return Audience.GROUP
            if chat_id in await people.department_heads(conn, issue.department_code):
                return Audience.HEAD
        if chat_id in await self.admins(conn):
            return Audience.ADMIN
        return Audience.OTHER

    async def push(self, conn: aiosqlite.Connection, issue: IssueRecord, now: int) -> list[int]:
        """The live card with the photos to the assignee and the department's group, and
        the location pin to the assignee (who goes there)."""
        chats: list[int] = []
        if issue.assignee_id is not None:
            chats.append(issue.assignee_id)
        group = await self.group_chat(conn, issue.department_code)
        if group is not None:
            chats.append(group)
        photo_ids = await issue_store.photos(conn, issue.id, "report")
        names = await self.issue_names(conn, issue)
        for chat_id in chats:
            await self._send_card(
                conn,
                issue,
                chat_id,
                await self.audience(conn, issue, chat_id),
                now,
                media=photo_ids,
                names=names,
            )
        return chats

    async def send_card(
        self, conn: aiosqlite.Connection, issue: IssueRecord, chat_id: int, now: int
    ) -> None:
        """The live card to one more chat (kept up to date from then on); a chat that already
        has the card gets it edited instead of a second copy."""
        pushed = await outbox.push_chats(conn, issue.id)
        if chat_id in pushed:
            await outbox.drop_pending_edits(conn, issue.id, chat_id)
            names = await self.issue_names(conn, issue)
            note = await self.resolution_note(conn, issue)
            await self._edit_card(conn, issue, chat_id, pushed[chat_id], now, names, note)
            return
        await self._send_card(conn, issue, chat_id, await self.audience(conn, issue, chat_id), now)

    async def push_to_admins(
        self, conn: aiosqlite.Connection, issue: IssueRecord, now: int, key: str, **values: Any
    ) -> None:
        """A notice to every admin, then the live card with reroute buttons."""
        for admin in await self.admins(conn):
            await self.tell(conn, admin, now, key, issue=issue, **values)
            await self.send_card(conn, issue, admin, now)

    async def _send_card(
        self,
        conn: aiosqlite.Connection,
        issue: IssueRecord,
        chat_id: int,
        audience: Audience,
        now: int,
        *,
        media: list[str] | None = None,
        names: Names | None = None,
    ) -> None:
        """One message where Telegram allows it: a report with one photo is pushed as that
        photo with the card as its caption. A department's group takes about 20 messages a
        minute, so in a busy hour each message saved is an issue shown sooner. Several
        photos go first as an album (which cannot carry buttons), then the card. In a
        private chat the location pin follows the card; a group reads the place on it.
        `media`: the report's photos, when they and the pin go with the card."""
        photo_ids = media or []
        captioned = len(photo_ids) == 1
        if len(photo_ids) > 1:
            lang = await self.language(conn, chat_id)
            caption = str(text(lang, "photos_caption", id=issue.id))
            await self.photos(conn, chat_id, issue, photo_ids, caption, now)
        card = await self.card(
            conn,
            issue,
            chat_id,
            audience,
            names=names or await self.issue_names(conn, issue),
            resolution_note=await self.resolution_note(conn, issue),
            captioned=captioned,
        )
        method, payload = Method.SEND_MESSAGE, card.payload()
        if captioned:
            method = outbox.CAPTIONED_PUSH_METHOD
            payload = {"photo": photo_ids[0], **card.payload(as_caption=True)}
        await outbox.enqueue(
            conn,
            chat_id=chat_id,
            method=method,
            payload=payload,
            purpose="push",
            now=now,
            issue_id=issue.id,
            urgent=issue.urgent,
        )
        if media is not None and chat_id > 0:
            await self._location(conn, issue, chat_id, now)

    async def _location(
        self, conn: aiosqlite.Connection, issue: IssueRecord, chat_id: int, now: int
    ) -> None:
        if issue.latitude is None or issue.longitude is None:
            return
        body: dict[str, Any] = {"latitude": issue.latitude, "longitude": issue.longitude}
        method = Method.SEND_LOCATION
        if issue.address:
            method = Method.SEND_VENUE
            body |= {"title": f"#{issue.id}", "address": issue.address[:200]}
        await self._enqueue_media(conn, chat_id, issue, method, body, now)

    async def photos(
        self,
        conn: aiosqlite.Connection,
        chat_id: int,
        issue: IssueRecord,
        photo_ids: list[str],
        caption: str,
        now: int,
    ) -> None:
        for start in range(0, len(photo_ids), MEDIA_GROUP_LIMIT):
            chunk = photo_ids[start : start + MEDIA_GROUP_LIMIT]
            body: dict[str, Any]
            if len(chunk) == 1:
                method, body = Method.SEND_PHOTO, {"photo": chunk[0], "caption": caption}
            else:
                media = [{"type": "photo", "media": file_id} for file_id in chunk]
                media[0]["caption"] = caption
                method, body = Method.SEND_MEDIA_GROUP, {"media": media}
            await self._enqueue_media(conn, chat_id, issue, method, body, now)

    @staticmethod
    async def _enqueue_media(
        conn: aiosqlite.Connection,
        chat_id: int,
        issue: IssueRecord,
        method: str,
        body: dict[str, Any],
        now: int,
    ) -> None:
        await outbox.enqueue(
            conn,
            chat_id=chat_id,
            method=method,
            payload=body,
            purpose="media",
            now=now,
            issue_id=issue.id,
            urgent=issue.urgent,
        )

    async def refresh_cards(self, conn: aiosqlite.Connection, issue: IssueRecord, now: int) -> None:
        """Edit every card of this issue to show its current state (`issue`, as the change
        left it) and the right buttons, in place of any edit still waiting to go out."""
        chats = await outbox.push_chats(conn, issue.id)
        if not chats:
            return
        await outbox.drop_pending_edits(conn, issue.id)
        names = await self.issue_names(conn, issue)
        note = await self.resolution_note(conn, issue)
        for chat_id, captioned in chats.items():
            await self._edit_card(conn, issue, chat_id, captioned, now, names, note)

    async def _edit_card(
        self,
        conn: aiosqlite.Connection,
        issue: IssueRecord,
        chat_id: int,
        captioned: bool,
        now: int,
        names: Names,
        note: str | None,
    ) -> None:
        """The edit that shows one chat's card as `issue` is now, with that chat's buttons."""
        card = await self.card(
            conn,
            issue,
            chat_id,
            await self.audience(conn, issue, chat_id),
            names=names,
            resolution_note=note,
            captioned=captioned,
        )
        await outbox.enqueue(
            conn,
            chat_id=chat_id,
            method=Method.EDIT_MESSAGE_CAPTION if captioned else Method.EDIT_MESSAGE_TEXT,
            payload=card.payload(with_markup_always=True, as_caption=captioned),
            purpose="edit",
            now=now,
            issue_id=issue.id,
            urgent=issue.urgent,
        )

    async def tell(
        self,
        conn: aiosqlite.Connection,
        chat_id: int,
        now: int,
        key: str,
        *,
        issue: IssueRecord | None = None,
        buttons: Buttons | None = None,
        **values: Any,
    ) -> None:
        lang = await self.language(conn, chat_id)
        body: dict[str, Any] = {"text": str(text(lang, key, **values)), "parse_mode": "HTML"}
        if buttons:
            body["reply_markup"] = keyboard(buttons)
        await outbox.enqueue(
            conn,
            chat_id=chat_id,
            method=Method.SEND_MESSAGE,
            payload=body,
            purpose="notice",
            now=now,
            issue_id=issue.id if issue else None,
            urgent=bool(issue and issue.urgent),
        )
        if issue is not None and chat_id == issue.reporter_id and key.startswith("rc_"):
            await self._tell_followers(conn, issue, now, key, values)

    async def tell_holder(
        self, conn: aiosqlite.Connection, issue: IssueRecord, now: int, key: str, **values: Any
    ) -> None:
        """Tell the member who holds `issue` (nobody when no one does), with its number."""
        if issue.assignee_id is not None:
            await self.tell(conn, issue.assignee_id, now, key, issue=issue, id=issue.id, **values)

    async def _tell_followers(
        self,
        conn: aiosqlite.Connection,
        issue: IssueRecord,
        now: int,
        key: str,
        values: dict[str, Any],
    ) -> None:
        """Followers (附议, merged duplicates) get the reporter's progress notices; of the
        reporter's buttons only 确认, while the issue waits for it."""
        for follower in await follower_store.followers(conn, issue.id):
            if follower == issue.reporter_id:
                continue
            lang = await self.language(conn, follower)
            body: dict[str, Any] = {
                "text": str(text(lang, "fc_notice", id=issue.id, notice=text(lang, key, **values))),
                "parse_mode": "HTML",
            }
            if issue.state == State.RESOLVED:
                confirm = issue_button(IssueButton.CONFIRM, issue.id)
                body["reply_markup"] = keyboard([[(plain(lang, "btn_confirm"), confirm)]])
            await outbox.enqueue(
                conn,
                chat_id=follower,
                method=Method.SEND_MESSAGE,
                payload=body,
                purpose="notice",
                now=now,
                issue_id=issue.id,
                urgent=issue.urgent,
            )
