"""Admin commands: /invite, /reroute, /pending."""

from __future__ import annotations

from telegram import Update

from bot.i18n import Html, plain, text
from bot.numbers import parse_id
from bot.permissions import Role
from bot.services import Refused
from bot.views import issue_line
from handlers.common import Context, language, refuse, reply, services


async def _admin_language(update: Update, context: Context) -> str | None:
    """The admin's language, or None after telling a non-admin politely."""
    assert update.effective_user is not None
    lang = await language(update, context)
    actor = await services(context).people.actor(update.effective_user.id)
    if not actor.admin:
        await reply(update, text(lang, "not_admin"))
        return None
    return lang


async def invite(update: Update, context: Context) -> None:
    lang = await _admin_language(update, context)
    if lang is None:
        return
    args = context.args or []
    try:
        role = Role(args[0].lower()) if args else None
    except ValueError:
        role = None
    if role is None:
        await reply(update, text(lang, "invite_usage"))
        return
    scope = args[1] if len(args) > 1 else ""
    svc = services(context)
    assert update.effective_user is not None
    try:
        code = await svc.people.create_invite(role, scope, update.effective_user.id)
    except Refused as refused:
        await refuse(update, context, refused)
        return
    await reply(
        update,
        text(
            lang,
            "invite_created",
            role=plain(lang, f"role_{role.value}"),
            scope=f" · {scope}" if scope else "",
            days=svc.settings.invite_days,
            code=code,
        ),
    )


async def reroute(update: Update, context: Context) -> None:
    lang = await _admin_language(update, context)
    if lang is None:
        return
    args = context.args or []
    issue_id = parse_id(args[0]) if len(args) in (2, 3) else None
    member = parse_id(args[2], hash_allowed=False) if len(args) == 3 else None
    if issue_id is None or (len(args) == 3 and member is None):
        await reply(update, text(lang, "reroute_usage"))
        return
    svc = services(context)
    assert update.effective_user is not None
    try:
        issue = await svc.issues.reroute(update.effective_user.id, issue_id, args[1], member)
    except Refused as refused:
        await refuse(update, context, refused)
        return
    names = await svc.notices.issue_names(svc.db.reader, issue)
    await reply(
        update,
        text(lang, "done_reroute", id=issue.id, department=names.department(issue.department_code)),
    )


async def pending(update: Update, context: Context) -> None:
    lang = await _admin_language(update, context)
    if lang is None:
        return
    svc = services(context)
    found = await svc.issues.awaiting_reroute()
    if not found:
        await reply(update, text(lang, "pending_empty"))
        return
    names = await svc.notices.names(svc.db.reader, [])
    now = svc.clock.now()
    lines = [text(lang, "pending_header")]
    lines += [issue_line(lang, "todo_line", issue, names, svc.zone, now) for issue in found]
    await reply(update, Html("\n".join(lines)))
