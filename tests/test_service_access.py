"""Who may do what, asked of the services directly: no Telegram, no Bot API server.

The handlers, the command line and these tests get the same answer from one place. The
people are the example district's (bot/data/district.toml): a stranger, a grid worker of
G01, a member and the head of 城管 (cg, which owns sanitation), a member and the head of
another department (zj), and an admin (WHISTLE_ADMIN_IDS). The command line acts as the
street office (caller None).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.callbacks import IssueButton, IssueCallback
from bot.lifecycle import Action
from bot.permissions import Role
from bot.services import Refused, Services
from bot.services.issues import Tap
from bot.views import Answer, Rendered
from tests.office import dump, reported

STRANGER, WORKER, OTHER_WORKER = 9999, 2001, 2003
MEMBER, HEAD = 1002, 1001  # cg: sanitation's department
OTHER_MEMBER, OTHER_HEAD = 1102, 1101  # zj
ADMIN = 3001
EVERYONE = {
    "stranger": STRANGER,
    "worker": WORKER,
    "other worker": OTHER_WORKER,
    "member": MEMBER,
    "head": HEAD,
    "other member": OTHER_MEMBER,
    "other head": OTHER_HEAD,
    "admin": ADMIN,
}


async def who_may(
    office: Services, call: Callable[[int], Awaitable[Any]], people: dict[str, int] = EVERYONE
) -> dict[str, str]:
    """Each person's answer: 'ok', or the key of the refusal (which changed nothing)."""
    answers: dict[str, str] = {}
    for name, user_id in people.items():
        before = dump(office)
        try:
            await call(user_id)
        except Refused as refused:
            answers[name] = refused.key
            assert dump(office) == before, name
        else:
            answers[name] = "ok"
    return answers


ONLY_ADMIN = {name: "not_admin" for name in EVERYONE} | {"admin": "ok"}


async def test_only_admins_see_what_waits_to_be_rerouted(office: Services) -> None:
    assert await who_may(office, office.issues.pending) == ONLY_ADMIN


async def test_only_admins_are_told_how_admin_commands_are_used(office: Services) -> None:
    async def usage(user_id: int) -> Answer:
        return await office.people.usage(user_id, "revoke_usage")

    assert await who_may(office, usage) == ONLY_ADMIN


async def test_only_admins_and_the_command_line_make_invites(office: Services) -> None:
    async def invite(user_id: int) -> Rendered:
        return await office.people.invite(user_id, Role.WORKER, "G03")

    assert await who_may(office, invite) == ONLY_ADMIN
    assert await office.people.create_invite(Role.ADMIN, "", None)


async def test_only_admins_and_the_command_line_revoke(office: Services) -> None:
    async def revoke(user_id: int) -> object:
        return await office.people.revoke(user_id, STRANGER)

    answers = await who_may(office, revoke)
    # The admin is let through, and told the stranger holds no role.
    assert answers == ONLY_ADMIN | {"admin": "revoke_no_roles"}
    with pytest.raises(Refused) as refused:
        await office.people.revoke(None, STRANGER)
    assert refused.value.key == "revoke_no_roles"


async def test_rerouting_without_a_button_is_the_admins(office: Services) -> None:
    """/reroute (and the command line): the admins'. A head moves an issue within the
    department with `reassign`; the 改派 buttons of other people are refused as taps."""
    number = await reported(office)

    async def reroute(user_id: int) -> Answer:
        return await office.issues.reroute(user_id, number, "cg")

    answers = await who_may(office, reroute)
    assert answers == ONLY_ADMIN
    await office.issues.reroute(ADMIN, number, "zj")


async def test_heads_and_admins_reassign_within_the_department(office: Services) -> None:
    number = await reported(office)

    async def reassign(user_id: int) -> Answer:
        return await office.issues.reassign(user_id, number, 1003)

    people = {k: v for k, v in EVERYONE.items() if k not in ("head", "admin")}
    assert await who_may(office, reassign, people) == {
        "stranger": "not_registered",
        "worker": "ans_not_allowed",  # the reporter sees the issue, may not move it
        "other worker": "ans_not_found",
        "member": "ans_not_allowed",
        "other member": "ans_not_found",
        "other head": "ans_not_found",
    }
    by_head = await office.issues.reassign(HEAD, number, 1003)
    assert by_head.key == "done_reassign"
    by_admin = await office.issues.reassign(ADMIN, number, 1004)
    assert by_admin.key == "done_reassign"


async def test_lists_are_for_registered_people(office: Services) -> None:
    await reported(office)
    registered = {name: "ok" for name in EVERYONE} | {"stranger": "not_registered"}
    assert await who_may(office, office.issues.my_reports) == registered
    assert await who_may(office, office.issues.to_do) == registered
    mine = await office.issues.my_reports(WORKER)
    assert "垃圾桶满溢" not in mine.text and "#1" in mine.text
    assert "#1" not in (await office.issues.my_reports(OTHER_WORKER)).text
    assert "#1" in (await office.issues.to_do(MEMBER)).text
    assert "#1" not in (await office.issues.to_do(OTHER_MEMBER)).text


async def test_an_issue_is_shown_to_the_people_it_concerns(office: Services) -> None:
    number = await reported(office)

    async def details(user_id: int) -> object:
        return await office.issues.details(user_id, number)

    assert await who_may(office, details) == {
        "stranger": "not_registered",
        "worker": "ok",
        "other worker": "ans_not_found",
        "member": "ok",
        "head": "ok",
        "other member": "ans_not_found",
        "other head": "ans_not_found",
        "admin": "ok",
    }


async def test_the_department_accepts_the_reporter_or_office_cancels(office: Services) -> None:
    number = await reported(office)

    async def acknowledge(user_id: int) -> object:
        return await office.issues.acknowledge(user_id, number)

    people = {k: v for k, v in EVERYONE.items() if k not in ("member", "head")}
    assert await who_may(office, acknowledge, people) == {
        "stranger": "not_registered",
        "worker": "ans_not_allowed",
        "other worker": "ans_not_found",
        "other member": "ans_not_found",
        "other head": "ans_not_found",
        "admin": "ans_not_allowed",
    }

    async def cancel(user_id: int) -> object:
        return await office.issues.cancel(user_id, number)

    people = {k: v for k, v in EVERYONE.items() if k not in ("worker", "admin")}
    assert await who_may(office, cancel, people) == {
        "stranger": "not_registered",
        "other worker": "ans_not_found",
        "member": "ans_not_allowed",
        "head": "ans_not_allowed",
        "other member": "ans_not_found",
        "other head": "ans_not_found",
    }
    await office.issues.cancel(WORKER, number)
    # The street office may withdraw a report too.
    await office.issues.cancel(ADMIN, await reported(office))


async def test_only_grid_workers_start_reports(office: Services) -> None:
    async def begin(user_id: int) -> object:
        return await office.reports.begin(user_id, user_id)

    answers = await who_may(office, begin)
    assert answers == {name: "report_not_worker" for name in EVERYONE} | {
        "worker": "ok",
        "other worker": "ok",
    }


async def test_the_receipt_speaks_the_reporters_language(office: Services) -> None:
    """The receipt was built in the handler with full-width brackets that English readers
    saw too."""
    await office.people.set_language(WORKER, "en")
    reports = office.reports
    await reports.begin(WORKER, WORKER)
    await reports.choose_category(WORKER, "sanitation")
    await reports.describe(WORKER, "overflowing bin")
    await reports.photos_done(WORKER)
    await reports.skip_location(WORKER)
    await reports.set_urgency(WORKER, False)
    receipt = await office.issues.submit_report(WORKER)
    assert receipt.text.startswith("✅ Reported as")
    assert "（" not in receipt.text and "）" not in receipt.text
    assert " (" in receipt.text.split("\n")[1], receipt.text


async def test_help_names_only_what_the_roles_allow(office: Services) -> None:
    worker = (await office.people.help(WORKER)).text
    admin = (await office.people.help(ADMIN)).text
    assert "/report" in worker and "/pending" not in worker
    assert "/pending" in admin


SEES_BUT_MAY_NOT = {
    "stranger": "not_registered",
    "worker": "ans_not_allowed",
    "other worker": "ans_not_found",
    "member": "ans_not_allowed",
    "head": "ans_not_allowed",
    "other member": "ans_not_found",
    "other head": "ans_not_found",
    "admin": "ans_not_allowed",
}


async def test_the_holder_and_the_head_work_on_an_accepted_issue(office: Services) -> None:
    """进展, 办结 and 退回 of an accepted issue: its holder (1003 here) and the head."""
    number = await reported(office)
    await office.issues.reassign(ADMIN, number, 1003)
    await office.issues.acknowledge(1003, number)
    for action in (Action.PROGRESS, Action.RESOLVE, Action.TRANSFER):

        async def check(user_id: int, action: Action = action) -> None:
            await office.issues.check(user_id, number, action)

        assert await who_may(office, check) == SEES_BUT_MAY_NOT | {"head": "ok"}, action
        await office.issues.check(1003, number, action)
    await office.issues.resolve(1003, number, "已清理", [])
    for action in (Action.CONFIRM, Action.REOPEN):

        async def check(user_id: int, action: Action = action) -> None:
            await office.issues.check(user_id, number, action)

        assert await who_may(office, check) == SEES_BUT_MAY_NOT | {"worker": "ok"}, action
    await office.issues.confirm(WORKER, number)

    async def rate(user_id: int) -> None:
        await office.issues.check(user_id, number, Action.RATE)

    assert await who_may(office, rate) == SEES_BUT_MAY_NOT | {"worker": "ok"}


async def test_a_button_is_checked_like_any_request(office: Services) -> None:
    """press: the tap's data and chat are checked against what the person is shown there;
    a head shown no 改派 to another department is refused it as a forged button."""
    number = await reported(office)
    reroute = IssueCallback(button=IssueButton.REROUTE, issue_id=number, argument="zj")
    for user_id, key in (
        (STRANGER, "not_registered"),
        (OTHER_WORKER, "ans_not_found"),
        (HEAD, "ans_bad_button"),
    ):
        before = dump(office)
        with pytest.raises(Refused) as refused:
            await office.issues.press(user_id, reroute, Tap(reroute.encode(), user_id))
        assert refused.value.key == key
        assert dump(office) == before
    bad_rating = IssueCallback(button=IssueButton.RATE, issue_id=number, argument="great")
    with pytest.raises(Refused) as refused:
        await office.issues.press(WORKER, bad_rating, Tap(bad_rating.encode(), WORKER))
    assert refused.value.key == "ans_bad_button"
    with pytest.raises(Refused) as refused:
        await office.issues.with_note(WORKER, Action.CANCEL, number, "不要了")
    assert refused.value.key == "ans_bad_button"
    # The admins' card offers 改派 once the street has to decide: here, once handed back.
    await office.issues.transfer(MEMBER, number, "不属于本部门职责")
    done = await office.issues.press(ADMIN, reroute, Tap(reroute.encode(), ADMIN))
    assert done.answer is not None and done.answer.key == "done_reroute"
    assert done.answer.values["department"] == "住建办"
