"""联合吹哨's part in the issue's own steps, for IssueService (which cannot import the
whistle service, which builds on it): the lead's 办结 waits for the co-departments, 重办
brings every summoned department back, 确认 puts one rating card per department before
the admins."""

from __future__ import annotations

import aiosqlite

from bot.callbacks import Rating
from bot.i18n import plain
from bot.labels import RATING_KEYS
from bot.lifecycle import SummonState
from bot.records import IssueRecord
from bot.services.notices import Notices
from bot.services.refusal import Refused
from bot.whistle_views import WhistleButton, whistle_button
from storage import issues as issue_store
from storage import people
from storage import whistles as whistle_store


async def resolve_gate(conn: aiosqlite.Connection, notices: Notices, issue: IssueRecord) -> None:
    """Refused while a co-department has not finished its part (配合完成) and no admin
    overrode that with a reason."""
    whistle = await whistle_store.get_whistle(conn, issue.id)
    if whistle is None or whistle.override_reason:
        return
    waiting = [
        s.department_code
        for s in await whistle_store.summoned(conn, issue.id)
        if s.department_code != whistle.lead
        and s.state not in (SummonState.DONE.value, SummonState.RELEASED.value)
    ]
    if waiting:
        names = await notices.issue_names(conn, issue)
        raise Refused(
            "wh_resolve_waits",
            id=issue.id,
            departments="、".join(names.department(code) for code in waiting),
        )


async def bring_back(
    conn: aiosqlite.Connection, notices: Notices, issue: IssueRecord, reason: str, now: int
) -> None:
    """重办: every summoned department works on it again (those that had finished are back
    to arrived) and is told; any override of the 办结 gate no longer holds."""
    if await whistle_store.get_whistle(conn, issue.id) is None:
        return
    await whistle_store.set_override(conn, issue.id, None, None)
    names = await notices.issue_names(conn, issue)
    await whistle_store.bring_back(conn, issue.id)
    for summons in await whistle_store.summoned(conn, issue.id):
        if summons.state == SummonState.RELEASED.value:
            continue
        code = summons.department_code
        # The department's group, else the member who was on site for it, else its head.
        chat = (
            await notices.group_chat(conn, code)
            or summons.arrived_by
            or await people.department_head(conn, code)
        )
        if chat is None:
            continue
        await notices.tell(
            conn,
            chat,
            now,
            "wh_reopened",
            issue=issue,
            id=issue.id,
            department=names.department(code),
            reason=reason,
        )


async def rating_cards(
    conn: aiosqlite.Connection, notices: Notices, issue: IssueRecord, now: int
) -> None:
    """确认: one rating card per summoned department for every admin."""
    if await whistle_store.get_whistle(conn, issue.id) is None:
        return
    names = await notices.issue_names(conn, issue)
    for summons in await whistle_store.summoned(conn, issue.id):
        if summons.state == SummonState.RELEASED.value:
            continue
        code = summons.department_code
        for admin in await notices.admins(conn):
            lang = await notices.language(conn, admin)
            buttons = [
                [
                    (
                        plain(lang, RATING_KEYS[r]),
                        whistle_button(WhistleButton.RATE, issue.id, f"{code}.{r.value}"),
                    )
                    for r in Rating
                ]
            ]
            await notices.tell(
                conn,
                admin,
                now,
                "wh_rate_card",
                issue=issue,
                buttons=buttons,
                id=issue.id,
                department=names.department(code),
            )


async def asked(
    conn: aiosqlite.Connection, notices: Notices, issue: IssueRecord, worker: int, now: int
) -> None:
    """申请吹哨: the worker's report goes before the admins (their card has 吹哨)."""
    await issue_store.add_event(
        conn, issue.id, now, worker, "ask_whistle", issue.state, issue.state, None, None
    )
    names = await notices.issue_names(conn, issue)
    await notices.push_to_admins(
        conn,
        issue,
        now,
        "wh_ad_asked",
        id=issue.id,
        category=names.category(issue.category_code),
        name=names.person(worker),
    )
