"""/my, /todo and /issue N: looking things up, for the people allowed to see them."""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.constants import ChatAction

from bot.i18n import text
from bot.numbers import parse_id
from bot.services import Refused
from handlers.common import Context, language, refuse, reply, services


async def my_reports(update: Update, context: Context) -> None:
    assert update.effective_user is not None
    try:
        await reply(update, await services(context).issues.my_reports(update.effective_user.id))
    except Refused as refused:
        await refuse(update, context, refused)


async def to_do(update: Update, context: Context) -> None:
    assert update.effective_user is not None
    try:
        await reply(update, await services(context).issues.to_do(update.effective_user.id))
    except Refused as refused:
        await refuse(update, context, refused)


async def show_issue(update: Update, context: Context) -> None:
    assert update.effective_user is not None
    lang = await language(update, context)
    args = context.args or []
    issue_id = parse_id(args[0]) if args else None
    if issue_id is None:
        await reply(update, text(lang, "issue_usage"))
        return
    try:
        card, history = await services(context).issues.details(update.effective_user.id, issue_id)
    except Refused as refused:
        await refuse(update, context, refused)
        return
    await reply(update, card)
    await reply(update, history)


async def statistics(update: Update, context: Context) -> None:
    """/stats [2026-W47 | last]: the week's figures as of now, for what this person may see
    (admins: the street; heads: their department; members: their own)."""
    assert update.effective_user is not None and update.effective_chat is not None
    svc = services(context)
    lang = await language(update, context)
    try:
        actor = await svc.people.actor(update.effective_user.id)
        scope = svc.statistics.scope_for(actor)
        week = svc.statistics.week(context.args[0] if context.args else None)
    except Refused as refused:
        await refuse(update, context, refused)
        return
    await update.effective_chat.send_action(ChatAction.UPLOAD_PHOTO)
    bundle = await svc.statistics.bundle(week, scope, lang, with_csv=False)
    await reply(update, bundle.text)
    chat = update.effective_chat
    await chat.send_photo(InputFile(bundle.chart, filename=f"whistle-{week}.png"))
    await chat.send_document(
        InputFile(bundle.xlsx, filename=f"whistle-{week}.xlsx"),
        caption=svc.statistics.file_caption(lang, week),
    )
