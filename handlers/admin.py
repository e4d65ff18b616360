"""Admin commands: /invite, /reroute, /pending, /revoke. Who may use them is the services'
rule: a person who is not an admin is told so, whatever they typed."""

from __future__ import annotations

from telegram import Update

from bot.numbers import parse_id
from bot.permissions import Role
from bot.services import Refused
from handlers.common import Context, refuse, reply, say, services
from handlers.people import set_menu


def _caller(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


async def invite(update: Update, context: Context) -> None:
    args = context.args or []
    try:
        role = Role(args[0].lower()) if args else None
    except ValueError:
        role = None
    people = services(context).people
    try:
        if role is None:
            await say(update, context, await people.usage(_caller(update), "invite_usage"))
            return
        scope = args[1] if len(args) > 1 else ""
        await reply(update, await people.invite(_caller(update), role, scope))
    except Refused as refused:
        await refuse(update, context, refused)


async def reroute(update: Update, context: Context) -> None:
    args = context.args or []
    issue_id = parse_id(args[0]) if len(args) in (2, 3) else None
    member = parse_id(args[2], hash_allowed=False) if len(args) == 3 else None
    svc = services(context)
    try:
        if issue_id is None or (len(args) == 3 and member is None):
            await say(update, context, await svc.people.usage(_caller(update), "reroute_usage"))
            return
        await say(
            update, context, await svc.issues.reroute(_caller(update), issue_id, args[1], member)
        )
    except Refused as refused:
        await refuse(update, context, refused)


async def pending(update: Update, context: Context) -> None:
    try:
        await reply(update, await services(context).issues.pending(_caller(update)))
    except Refused as refused:
        await refuse(update, context, refused)


async def revoke(update: Update, context: Context) -> None:
    """/revoke USER_ID: withdraw a person's invite-given roles (private chat, admins)."""
    chat = update.effective_chat
    args = context.args or []
    svc = services(context)
    try:
        if chat is None or chat.type != "private":
            await say(update, context, await svc.people.usage(_caller(update), "revoke_private"))
            return
        user_id = parse_id(args[0], hash_allowed=False) if len(args) == 1 else None
        if user_id is None:
            await say(update, context, await svc.people.usage(_caller(update), "revoke_usage"))
            return
        done = await svc.people.revoke_answer(_caller(update), user_id)
    except Refused as refused:
        await refuse(update, context, refused)
        return
    await reply(update, done.answer)
    if done.revocation.revoked:
        user_id = done.revocation.user_id
        target = await svc.people.actor(user_id)
        await set_menu(context.bot, target, await svc.people.language(user_id))
