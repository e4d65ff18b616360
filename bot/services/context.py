"""What the services that change issues share, built once and handed to each of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import aiosqlite

from bot.clock import Clock, to_epoch
from bot.permissions import Actor
from bot.records import IssueRecord
from bot.services.notices import Notices
from bot.services.organisation import OrganisationService
from bot.services.refusal import Refused
from storage import issues as issue_store
from storage import people
from storage.db import Database


def _nothing() -> None:
    return None


@dataclass
class ServiceContext:
    """The database, the clock, the organisation and the notices, and `on_commit`: called
    after every commit that queued messages. The running bot sets it once, to wake its
    sender; elsewhere (command line, tests) it does nothing."""

    db: Database
    clock: Clock
    organisations: OrganisationService
    notices: Notices
    on_commit: Callable[[], None] = field(default=_nothing)


class Service:
    """A service built on the shared context; `on_commit` always reaches the context's
    current one, so setting it once on the context wakes the sender for every service."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.db = context.db
        self.clock = context.clock
        self.organisations = context.organisations
        self.notices = context.notices

    def on_commit(self) -> None:
        self.context.on_commit()

    @staticmethod
    async def _registered(conn: aiosqlite.Connection, user_id: int) -> Actor:
        """The person, if registered; else Refused."""
        actor = await people.load_actor(conn, user_id)
        if not actor.registered:
            raise Refused("not_registered")
        return actor

    @classmethod
    async def _registered_with_issue(
        cls, conn: aiosqlite.Connection, user_id: int, issue_id: int
    ) -> tuple[Actor, IssueRecord]:
        """The registered person and the issue; Refused if either is missing."""
        actor = await cls._registered(conn, user_id)
        issue = await issue_store.get_issue(conn, issue_id)
        if issue is None:
            raise Refused("ans_not_found")
        return actor, issue

    def _now(self) -> tuple[datetime, int]:
        """The clock's instant, and the same in whole seconds as it is stored."""
        moment = self.clock.now()
        return moment, to_epoch(moment)
