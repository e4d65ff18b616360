"""The organisation as the bot uses it: imported from the file into the database (idempotent;
what disappears from the file is retired, never deleted), and read back for routing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from bot.clock import Clock, to_epoch
from bot.organisation import (
    BOM,
    Organisation,
    OrganisationInvalid,
    check_zone,
    parse_organisation,
    read_organisation_text,
    routing_changes,
)
from bot.permissions import Role
from bot.records import Directory, ImportSummary
from storage import invites, people
from storage import org as org_store
from storage.db import Database


class OrganisationMissing(Exception):
    """No organisation file has been imported yet."""


class OrganisationService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        recheck_seconds: float = 2.0,
        zone: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.recheck_seconds = recheck_seconds
        self.zone = zone
        """WHISTLE_TIMEZONE: a file in another zone is refused (None: any zone)."""
        self.after_import: Callable[[], Awaitable[list[str]]] | None = None
        """Runs after each import commits: re-dispatches the open issues it stranded and
        says what became of each (wired in `build_services`)."""
        self._cached: Organisation | None = None
        self._directory: Directory | None = None
        self._source: str | None = None
        self._checked_at = 0.0
        self._roles: tuple[int, ...] = ()

    async def directory(self) -> Directory:
        """Names and active codes, kept in memory: read again when an import (here, or by
        `whistle org import` in another process, noticed within a few seconds) changed the
        stored file. The file's text is the mark, not its import time: two imports within
        one second must not look the same."""
        now = time.monotonic()
        if self._directory is None or now - self._checked_at > self.recheck_seconds:
            source = await org_store.stored_source(self.db.reader)
            roles = await people.roles_mark(self.db.reader)
            if self._directory is None or source != self._source:
                self._directory = await org_store.read_directory(self.db.reader)
                self._source = source
                self._cached = None
            elif roles != self._roles:
                # Roles granted or withdrawn (`whistle people revoke` in another process):
                # a new directory object makes what people's roles were kept from be
                # forgotten (PeopleService), though the organisation is the same.
                self._directory = replace(self._directory)
            self._roles = roles
            self._checked_at = now
        return self._directory

    async def current(self) -> Organisation:
        """The organisation as parsed from the last import; parsed again only when the
        directory (same freshness rule) finds a different file stored."""
        await self.directory()
        if self._cached is None:
            if self._source is None:
                raise OrganisationMissing(
                    "import an organisation file first: whistle org import FILE"
                )
            self._cached = parse_organisation(self._source)
        return self._cached

    async def import_file(self, path: Path) -> ImportSummary:
        text = await asyncio.to_thread(read_organisation_text, path)
        return await self.import_text(text)

    def check_zone(self, org: Organisation, toml_text: str) -> None:
        """OrganisationInvalid when the file's time zone is not the running one."""
        check_zone(org, toml_text, self.zone)

    async def import_text(self, toml_text: str) -> ImportSummary:
        """Store the file's organisation; grants that only the file gave, and invite-given
        roles in a department or grid it removes, are retired. Then the open issues held by
        people or departments that can no longer act are re-dispatched (`after_import`).
        The summary names every change that moves issues or deadlines."""
        toml_text = toml_text.removeprefix(BOM)
        org = parse_organisation(toml_text)
        self.check_zone(org, toml_text)
        previous_text = await org_store.stored_source(self.db.reader)
        try:
            previous = parse_organisation(previous_text) if previous_text is not None else None
        except OrganisationInvalid:
            previous = None  # stored under older rules: nothing to compare with
        now = to_epoch(self.clock.now())
        wanted: set[tuple[int, str, str]] = set()
        for dept in org.departments.values():
            if dept.head is not None:
                wanted.add((dept.head, Role.HEAD.value, dept.code))
            wanted.update((m, Role.MEMBER.value, dept.code) for m in dept.members)
        for grid in org.grids.values():
            wanted.update((w, Role.WORKER.value, grid.code) for w in grid.workers)
        wanted.update((a, Role.ADMIN.value, "") for a in org.admins)
        self._directory = None
        async with self.db.write() as tx:
            summary = await org_store.store_organisation(tx, org, toml_text, now)
            current = await people.grants_from(tx, "org")
            for user_id, role, scope in sorted(wanted - current):
                await people.ensure_person(tx, user_id, now)
                if await people.grant(tx, user_id, Role(role), scope, "org", now):
                    summary.added.append(f"{role} {user_id} {scope}".rstrip())
            for user_id, name in org.people.items():
                await people.ensure_person(tx, user_id, now)
                await people.name_if_unknown(tx, user_id, name)
            for user_id, role, scope in sorted(current - wanted):
                await people.retire_grant(tx, user_id, role, scope, "org", now)
                summary.retired.append(f"{role} {user_id} {scope}".rstrip())
            for user_id, role, scope in sorted(await people.grants_from(tx, "invite")):
                kept = org.grids if role == Role.WORKER.value else org.departments
                if role != Role.ADMIN.value and scope not in kept:
                    await people.retire_grant(tx, user_id, role, scope, "invite", now)
                    summary.retired.append(f"{role} {user_id} {scope} (invite)")
            for role, scope in await invites.void_invites_without_scope(tx, now):
                summary.retired.append(f"unused invite {role} {scope} (voided)")
            if previous is not None:
                summary.changed.extend(routing_changes(previous, org))
        self._directory = None
        if self.after_import is not None:
            summary.redispatched.extend(await self.after_import())
        return summary
