"""People: joining with an invite code, roles, language, and admins from the settings."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

import aiosqlite

from bot.bot_api import Method
from bot.clock import Clock, to_epoch
from bot.i18n import Html, normalise_language, plain, text
from bot.labels import ROLE_KEYS
from bot.permissions import Actor, Role
from bot.records import Directory, Grant, PersonRoles
from bot.services.issues import Redispatched
from bot.services.languages import Languages
from bot.services.refusal import Refused
from bot.views import Answer, Names, Rendered, help_text, roles_text
from storage import invites, outbox, people
from storage.db import Database

_SCOPE_TABLE = {Role.WORKER: "grid", Role.MEMBER: "department", Role.HEAD: "department"}


@dataclass(frozen=True)
class Revocation:
    """What `PeopleService.revoke` did: the invite-given roles it withdrew, the roles that
    stand because the organisation file or WHISTLE_ADMIN_IDS gives them (removed by editing
    those), and what became of the open issues the person held."""

    user_id: int
    revoked: tuple[Grant, ...]
    kept: tuple[Grant, ...]
    moved: tuple[Redispatched, ...]


@dataclass(frozen=True)
class Revoked:
    """/revoke's outcome: what was done, and the answer the admin reads."""

    revocation: Revocation
    answer: Rendered


@dataclass(frozen=True)
class Joining:
    actor: Actor
    joined: tuple[Role, str] | None = None
    code_refused: bool = False


@dataclass(frozen=True)
class Started:
    """/start's outcome: who the person is now, what they are told first (the invite taken
    or refused, or that they are not registered), and the welcome when they are."""

    actor: Actor
    told: tuple[Html, ...]
    welcome: Html | None


class PeopleService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        invite_days: int,
        directory: Callable[[], Awaitable[Directory]],
        languages: Languages,
    ) -> None:
        self.directory = directory
        self.languages = languages
        self._seen_names: dict[int, tuple[str, str | None]] = {}
        self._opened: set[int] = set()
        """People known to have written to the bot in private (`person.seen_at` is set)."""
        self._actors: dict[int, Actor] = {}
        self._actors_of: Directory | None = None
        self._admins: tuple[int, ...] | None = None
        self._display_names: dict[int, str] = {}
        self._forgotten = 0
        self._unreachable: set[int] = set()
        self._unreachable_read = False
        """People recorded as unreachable, read once and then kept up to date by
        `note_unreachable` and `reached`: checking every update against the database would
        cost a read each."""
        """Counts what was forgotten: a read that began before is not kept."""
        self.db = db
        self.clock = clock
        self.invite_days = invite_days
        self.after_revoke: Callable[[], Awaitable[list[Redispatched]]] | None = None
        """Runs after a revocation commits: re-dispatches the open issues the person held
        (wired in `build_services`)."""
        self.on_invite: Callable[[str], None] | None = None
        """Told every new invite code (the app keeps them out of its logs)."""
        self.on_unreachable: Callable[[int, bool], Awaitable[None]] | None = None
        """What the app does when somebody cannot be reached (the sender's path: move
        what waits for them on, tell the admins); called with whether it is new."""

    async def actor(self, user_id: int) -> Actor:
        """Who this is and what their roles let them see, kept in memory for registered
        people while the organisation is unchanged: an import (here, or in another process,
        noticed as the directory notices it), a redeemed invite or a change of the settings'
        admins forgets what was kept. Changing an issue re-checks the roles inside its own
        transaction, never from here."""
        await self._forget_if_reorganised()
        known = self._actors.get(user_id)
        if known is None:
            before = self._forgotten
            known = await people.load_actor(self.db.reader, user_id)
            if known.registered and before == self._forgotten:
                self._actors[user_id] = known
        return known

    async def admins(self) -> tuple[int, ...]:
        """Everybody who holds the admin role, by id; kept in memory under the same rule as
        `actor` (what a card shows them; their permissions are checked as anyone's)."""
        await self._forget_if_reorganised()
        if self._admins is not None:
            return self._admins
        before = self._forgotten
        admins = tuple(await people.active_admins(self.db.reader))
        if before == self._forgotten:
            self._admins = admins
        return admins

    async def display_names(
        self, conn: aiosqlite.Connection, user_ids: Iterable[int]
    ) -> dict[int, str]:
        """How people are named on cards and in notices, kept in memory under the same rule
        as `actor`, and updated when somebody's Telegram name changes (`note_seen`, `join`).
        What is not known yet is read through `conn` (a transaction under way, or the
        reader)."""
        await self._forget_if_reorganised()
        wanted = set(user_ids)
        missing = wanted - self._display_names.keys()
        if not missing:
            return {u: self._display_names[u] for u in wanted if u in self._display_names}
        before = self._forgotten
        read = await people.display_names(conn, missing)
        if before == self._forgotten:
            for user_id, name in read.items():
                # A name stored meanwhile (`_name_changed`) is newer than this read.
                self._display_names.setdefault(user_id, name)
        known = {u: self._display_names[u] for u in wanted if u in self._display_names}
        return read | known

    async def _name_changed(self, user_id: int) -> None:
        """Somebody's name was written (and committed): remember it as stored now."""
        self._display_names.update(await people.display_names(self.db.reader, {user_id}))

    async def _forget_if_reorganised(self) -> None:
        directory = await self.directory()
        if directory is not self._actors_of:
            self.forget_actors()
            self._actors_of = directory

    def forget_actors(self) -> None:
        """Roles changed: read them from the database again."""
        self._forgotten += 1
        self._actors.clear()
        self._admins = None
        self._display_names.clear()

    async def note_seen(
        self, actor: Actor, name: str, username: str | None, *, private: bool = False
    ) -> None:
        """Keep a registered person's display name as Telegram shows it (written on change);
        `private`: they wrote in their private chat with the bot, which can now reach them
        (a record that it could not is cleared: `reached`)."""
        if private and actor.registered and actor.user_id not in self._opened:
            if not await people.has_seen(self.db.reader, actor.user_id):
                async with self.db.one_statement() as conn:
                    await people.mark_seen(conn, actor.user_id, to_epoch(self.clock.now()))
            self._opened.add(actor.user_id)
        if private and actor.registered:
            await self.reached(actor.user_id)
        if not actor.registered or self._seen_names.get(actor.user_id) == (name, username):
            return
        if await people.display_name(self.db.reader, actor.user_id) != (name, username):
            async with self.db.write() as tx:
                await people.ensure_person(
                    tx, actor.user_id, to_epoch(self.clock.now()), name, username
                )
            await self._name_changed(actor.user_id)
        self._seen_names[actor.user_id] = (name, username)

    async def language(self, user_id: int) -> str:
        return await self.languages.of(self.db.reader, user_id)

    async def set_language(self, user_id: int, lang: str) -> None:
        now = to_epoch(self.clock.now())
        chosen = normalise_language(lang)
        async with self.db.write() as tx:
            await people.ensure_person(tx, user_id, now)
            await people.set_language(tx, user_id, chosen)
        self.languages.remember(user_id, chosen)

    async def join(
        self, user_id: int, name: str, username: str | None, code: str | None
    ) -> Joining:
        """Record who wrote to the bot; redeem an invite code if one came with /start."""
        now = to_epoch(self.clock.now())
        joined: tuple[Role, str] | None = None
        refused = False
        async with self.db.write() as tx:
            if code:
                claimed = await invites.claim_invite(tx, code, user_id, now)
                if claimed is None:
                    refused = True
                else:
                    role, scope = Role(claimed[0]), claimed[1]
                    await people.ensure_person(tx, user_id, now, name, username)
                    await people.grant(tx, user_id, role, scope, "invite", now)
                    joined = (role, scope)
            actor = await people.load_actor(tx, user_id)
            if actor.registered:
                await people.ensure_person(tx, user_id, now, name, username)
                await people.clear_blocked(tx, user_id)
                await people.mark_seen(tx, user_id, now)
        if actor.registered:
            self._unreachable.discard(user_id)
        self._forgotten += 1
        self._actors.pop(user_id, None)
        if joined is not None and joined[0] == Role.ADMIN:
            self._admins = None
        if actor.registered:
            await self._name_changed(user_id)
        return Joining(actor, joined, refused)

    async def _require_admin(self, caller_id: int | None) -> None:
        """Refused unless `caller_id` is an admin; None is the street office's command line."""
        if caller_id is not None and not (await people.load_actor(self.db.reader, caller_id)).admin:
            raise Refused("not_admin")

    async def usage(self, caller_id: int, key: str) -> Answer:
        """How an admin command is used (`key`), told to admins; others learn that it is
        for admins, whatever they typed."""
        await self._require_admin(caller_id)
        return Answer(key)

    async def invite(self, caller_id: int, role: Role, scope: str) -> Rendered:
        """/invite: a one-time code for `role` (admins only), as the admin reads it."""
        code = await self.create_invite(role, scope, caller_id)
        lang = await self.language(caller_id)
        return Rendered(
            text(
                lang,
                "invite_created",
                role=plain(lang, ROLE_KEYS[role]),
                scope=f" · {scope}" if scope else "",
                days=self.invite_days,
                code=code,
            )
        )

    async def start(
        self, user_id: int, name: str, username: str | None, code: str | None
    ) -> Started:
        """/start: `join`, answered in the person's language."""
        joining = await self.join(user_id, name, username, code)
        lang = await self.language(user_id)
        told: list[Html] = []
        if joining.code_refused:
            told.append(text(lang, "invite_invalid"))
        if joining.joined is not None:
            role, scope = joining.joined
            told.append(
                text(
                    lang,
                    "invite_accepted",
                    role=plain(lang, ROLE_KEYS[role]),
                    scope=f" · {scope}" if scope else "",
                )
            )
        if not joining.actor.registered:
            if not joining.code_refused:
                told.append(text(lang, "not_registered_id", user_id=user_id))
            return Started(joining.actor, tuple(told), None)
        welcome = text(lang, "welcome", name=name, roles=roles_text(lang, joining.actor))
        return Started(joining.actor, tuple(told), welcome)

    async def help(self, user_id: int) -> Rendered:
        """/help in a private chat: what this person's roles let them do."""
        actor = await self.actor(user_id)
        return Rendered(help_text(await self.language(user_id), actor))

    async def create_invite(self, role: Role, scope: str, created_by: int | None) -> str:
        """A one-time invite code; `created_by` must be an admin (None: the command line)."""
        await self._require_admin(created_by)
        table = _SCOPE_TABLE.get(role)
        if table is None:
            scope = ""
        else:
            codes = {code for code, _ in (await self.directory()).active[table]}
            if scope not in codes:
                raise Refused("invite_bad_scope", scope=scope or "-")
        code = secrets.token_urlsafe(12)
        if self.on_invite is not None:
            self.on_invite(code)
        moment = self.clock.now()
        async with self.db.write() as tx:
            await invites.create_invite(
                tx,
                code,
                role.value,
                scope,
                created_by,
                to_epoch(moment),
                to_epoch(moment + timedelta(days=self.invite_days)),
            )
        return code

    async def found_unreachable(self, user_id: int) -> None:
        """A message sent straight from a handler (not through the outbox) was refused
        because the person never opened, or blocked, their chat with the bot: recorded as
        the sender records it, and handled the same way."""
        async with self.db.write() as tx:
            first_time = await people.mark_blocked(tx, user_id, to_epoch(self.clock.now()))
        if self.on_unreachable is not None:
            await self.on_unreachable(user_id, first_time)
        else:
            self.note_unreachable(user_id)

    def note_unreachable(self, user_id: int) -> None:
        """The sender recorded that this person cannot be reached."""
        self._unreachable.add(user_id)

    async def reached(self, user_id: int) -> bool:
        """The person wrote to the bot in their private chat, so it is open: a record that
        they cannot be reached is cleared and they are routed to again. True if one was."""
        if not self._unreachable_read:
            self._unreachable |= await people.unreachable(self.db.reader)
            self._unreachable_read = True
        if user_id not in self._unreachable:
            return False
        async with self.db.write() as tx:
            await people.clear_blocked(tx, user_id)
        self._unreachable.discard(user_id)
        return True

    async def tell_admins_blocked(self, user_id: int) -> None:
        """Once per blocking: the admins learn that somebody cannot be reached."""
        now = to_epoch(self.clock.now())
        async with self.db.write() as tx:
            names = await self.display_names(tx, {user_id})
            for admin in await people.active_admins(tx):
                if admin == user_id:
                    continue
                lang = await self.languages.of(tx, admin)
                await outbox.enqueue(
                    tx,
                    chat_id=admin,
                    method=Method.SEND_MESSAGE,
                    payload={
                        "text": str(
                            text(
                                lang, "ad_blocked", name=names.get(user_id) or "-", user_id=user_id
                            )
                        ),
                        "parse_mode": "HTML",
                    },
                    purpose="notice",
                    now=now,
                )

    async def tell_admins_group(self, chat_id: int, new_chat_id: int | None) -> None:
        """The admins learn that a department's group cannot be reached (`new_chat_id`
        None) or became a supergroup with a new id, and which department's it is."""
        directory = await self.directory()
        codes = [code for code, group in directory.group_chats.items() if group == chat_id]
        names = directory.names.get("department", {})
        now = to_epoch(self.clock.now())
        async with self.db.write() as tx:
            for admin in await people.active_admins(tx):
                lang = await self.languages.of(tx, admin)
                department = plain(lang, "issues_separator").join(
                    names.get(code, code) for code in codes
                ) or plain(lang, "ad_group_no_department")
                key = "ad_group_unreachable" if new_chat_id is None else "ad_group_migrated"
                body = text(
                    lang, key, department=department, chat_id=chat_id, new_chat_id=new_chat_id
                )
                await outbox.enqueue(
                    tx,
                    chat_id=admin,
                    method=Method.SEND_MESSAGE,
                    payload={"text": str(body), "parse_mode": "HTML"},
                    purpose="notice",
                    now=now,
                )

    async def revoke(self, caller_id: int | None, user_id: int) -> Revocation:
        """Withdraw every role `user_id` holds through an invite. `caller_id` must be an
        admin (None: the street office's own command line). Roles from the organisation
        file or WHISTLE_ADMIN_IDS stay and are named in the answer: they end when those are
        edited, else the next import or start would give them back. Refused (nothing
        changed) for somebody without roles, and when it would leave the office with no
        admin. The open issues the person can no longer act on are re-dispatched."""
        now = to_epoch(self.clock.now())
        async with self.db.write() as tx:
            if caller_id is not None and not (await people.load_actor(tx, caller_id)).admin:
                raise Refused("not_admin")
            grants = await people.grants_of(tx, user_id)
            if not grants:
                raise Refused("revoke_no_roles", user_id=user_id)
            revoked = tuple(g for g in grants if g.source == "invite")
            for grant in revoked:
                await people.retire_grant(
                    tx, user_id, grant.role.value, grant.scope, grant.source, now
                )
            if not await people.active_admins(tx):
                raise Refused("revoke_last_admin", user_id=user_id)
        self.forget_actors()
        moved: list[Redispatched] = []
        if revoked and self.after_revoke is not None:
            moved = await self.after_revoke()
        kept = tuple(g for g in grants if g.source != "invite")
        return Revocation(user_id, revoked, kept, tuple(moved))

    async def revoke_answer(self, caller_id: int, user_id: int) -> Revoked:
        """`revoke`, with the answer the admin reads in their language."""
        done = await self.revoke(caller_id, user_id)
        lang = await self.language(caller_id)
        tables = (await self.directory()).names
        members = {m.member for m in done.moved if m.member is not None}
        names = Names(
            tables["department"],
            tables["category"],
            tables["grid"],
            await self.display_names(self.db.reader, members),
        )
        return Revoked(done, Rendered(_revocation_text(lang, done, names)))

    async def everyone(self) -> list[PersonRoles]:
        """Everybody holding a role, each grant with where it came from, and whether they
        have ever opened a chat with the bot (`whistle people list`)."""
        return await people.everyone_with_roles(self.db.reader)

    async def sync_settings_admins(self, admin_ids: list[int]) -> None:
        """Admins named in WHISTLE_ADMIN_IDS hold the role; ones removed from it lose it."""
        now = to_epoch(self.clock.now())
        async with self.db.write() as tx:
            current = {u for u, _, _ in await people.grants_from(tx, "settings")}
            for user_id in admin_ids:
                await people.ensure_person(tx, user_id, now)
                await people.grant(tx, user_id, Role.ADMIN, "", "settings", now)
            for user_id in current - set(admin_ids):
                await people.retire_grant(tx, user_id, Role.ADMIN.value, "", "settings", now)
        self.forget_actors()


def _grants(lang: str, grants: tuple[Grant, ...]) -> str:
    return plain(lang, "roles_separator").join(
        plain(lang, ROLE_KEYS[g.role]) + (f" {g.scope}" if g.scope else "") for g in grants
    )


def _revocation_text(lang: str, done: Revocation, names: Names) -> Html:
    """What was withdrawn, what stands and why, and where the person's open issues went."""
    lines = [
        text(lang, "revoke_done", user_id=done.user_id, roles=_grants(lang, done.revoked))
        if done.revoked
        else text(lang, "revoke_none", user_id=done.user_id)
    ]
    from_file = tuple(g for g in done.kept if g.source == "org")
    from_settings = tuple(g for g in done.kept if g.source == "settings")
    if from_file:
        lines.append(text(lang, "revoke_kept_file", roles=_grants(lang, from_file)))
    if from_settings:
        lines.append(text(lang, "revoke_kept_settings", roles=_grants(lang, from_settings)))
    if done.moved:
        moved = [
            plain(
                lang,
                "revoke_moved_to",
                id=m.issue.id,
                department=names.department(m.department),
                member=names.person(m.member),
            )
            if m.member is not None
            else plain(lang, "revoke_moved_to_admins", id=m.issue.id)
            for m in done.moved
        ]
        lines.append(text(lang, "revoke_moved", issues=plain(lang, "issues_separator").join(moved)))
    return Html("\n".join(lines))
