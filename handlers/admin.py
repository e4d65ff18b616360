"""Admin commands: /invite, /reroute, /pending, /revoke."""

from __future__ import annotations

from telegram import Update

from bot.i18n import Html, plain, text
from bot.numbers import parse_id
from bot.permissions import Role
from bot.records import Grant
from bot.services import Refused
from bot.views import issue_line
from handlers.common import Context, language, refuse, reply, services
from handlers.people import set_menu


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


async def revoke(update: Update, context: Context) -> None:
    """/revoke USER_ID: withdraw a person's invite-given roles (private chat, admins)."""
    lang = await _admin_language(update, context)
    if lang is None:
        return
    chat = update.effective_chat
    args = context.args or []
    if chat is None or chat.type != "private":
        await reply(update, text(lang, "revoke_private"))
        return
    if len(args) != 1 or not args[0].isdigit():
        await reply(update, text(lang, "revoke_usage"))
        return
    svc = services(context)
    assert update.effective_user is not None
    try:
        done = await svc.people.revoke(update.effective_user.id, int(args[0]))
    except Refused as refused:
        await refuse(update, context, refused)
        return
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
        names = await svc.notices.names(svc.db.reader, [m.member for m in done.moved])
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
        lines.append(
            text(
                lang, "revoke_moved", issues="；".join(moved) if lang == "zh" else "; ".join(moved)
            )
        )
    await reply(update, Html("\n".join(lines)))
    if done.revoked:
        target = await svc.people.actor(done.user_id)
        await set_menu(context.bot, target, await svc.people.language(done.user_id))


def _grants(lang: str, grants: tuple[Grant, ...]) -> str:
    return plain(lang, "roles_separator").join(
        plain(lang, f"role_{g.role.value}") + (f" {g.scope}" if g.scope else "") for g in grants
    )
