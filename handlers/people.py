"""/start (with an invite code), /help, /lang, the per-role command menu, and the guard that
keeps everybody who is not registered out."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.callbacks import parse_issue_button
from bot.chats import GroupHints, bot_command, command_name, works_in_group
from bot.i18n import LANGUAGES, plain, text
from bot.permissions import Actor, Role
from bot.whistle_views import on_group_cards
from handlers.common import Context, answer_query, language, reply, services

ROLE_COMMANDS: dict[Role, tuple[str, ...]] = {
    Role.WORKER: ("report", "my"),
    Role.MEMBER: ("todo", "stats"),
    Role.HEAD: ("todo", "stats"),
    Role.ADMIN: ("pending", "reroute", "whistle", "invite", "revoke", "stats"),
}
COMMON_COMMANDS = ("issue", "lang", "cancel", "help")
GUEST_COMMANDS = ("start", "help", "lang")
COMMAND_DESCRIPTIONS: dict[str, str] = {
    "start": "cmd_start",
    "help": "cmd_help",
    "report": "cmd_report",
    "my": "cmd_my",
    "todo": "cmd_todo",
    "issue": "cmd_issue",
    "lang": "cmd_lang",
    "cancel": "cmd_cancel",
    "pending": "cmd_pending",
    "reroute": "cmd_reroute",
    "invite": "cmd_invite",
    "stats": "cmd_stats",
    "revoke": "cmd_revoke",
    "whistle": "cmd_whistle",
}
"""Each command's line in the menu, by its name."""
log = logging.getLogger(__name__)


def commands_for(actor: Actor) -> list[str]:
    names: list[str] = []
    for role in (Role.WORKER, Role.MEMBER, Role.HEAD, Role.ADMIN):
        if role in actor.roles:
            names += [c for c in ROLE_COMMANDS[role] if c not in names]
    return [*names, *COMMON_COMMANDS] if names else list(GUEST_COMMANDS)


async def set_menu(bot: Bot, actor: Actor, lang: str) -> None:
    """The command menu this person sees: only what their roles can use."""
    await bot.set_my_commands(
        [BotCommand(name, plain(lang, COMMAND_DESCRIPTIONS[name])) for name in commands_for(actor)],
        scope=BotCommandScopeChat(actor.user_id),
    )


async def set_default_menus(bot: Bot) -> None:
    for lang in LANGUAGES:
        await bot.set_my_commands(
            [BotCommand(name, plain(lang, COMMAND_DESCRIPTIONS[name])) for name in GUEST_COMMANDS],
            language_code=None if lang == "zh" else lang,
        )


async def keep_to_private(update: Update, context: Context) -> None:
    """Runs before everything else: in a group chat only the buttons on issue cards and
    the commands of `GROUP_COMMANDS` go on; any other command of this bot from a registered
    person is answered with a hint to use the private chat (at most one a minute per
    group), and anything else is ignored."""
    chat = update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE:
        return
    query = update.callback_query
    if query is not None:
        if parse_issue_button(query.data) is None and not on_group_cards(query.data):
            lang = await language(update, context)
            await answer_query(query, plain(lang, "group_only_private")[:200])
            raise ApplicationHandlerStop
        return
    message = update.effective_message
    name = command_name(message.text if message is not None else None, context.bot.username)
    if name and works_in_group(name):
        return
    user = update.effective_user
    own = bot_command(message.text if message is not None else None, context.bot.username)
    if own and update.message is not None and user is not None:
        registered = (await services(context).people.actor(user.id)).registered
        hints = context.application.bot_data.setdefault("group_hints", GroupHints())
        if registered and hints.due(chat.id, services(context).clock.now()):
            await reply(update, text(await language(update, context), "group_only_private"))
    raise ApplicationHandlerStop


async def guard(update: Update, context: Context) -> None:
    """Runs before every handler: people who are not registered get a refusal and nothing
    else (except /start in a private chat, which may carry an invite code). It fails
    closed: an error here stops the update instead of letting it through."""
    try:
        await _guard(update, context)
    except ApplicationHandlerStop:
        raise
    except Exception:
        log.exception("the access guard failed; the update is dropped")
        raise ApplicationHandlerStop from None


async def _guard(update: Update, context: Context) -> None:
    user = update.effective_user
    if user is None or user.is_bot:
        raise ApplicationHandlerStop
    message = update.message
    chat = update.effective_chat
    private = chat is not None and chat.type == ChatType.PRIVATE
    if (
        private
        and message is not None
        and command_name(message.text, context.bot.username) == "start"
    ):
        return
    people = services(context).people
    actor = await people.actor(user.id)
    if actor.registered:
        own_chat = private and chat is not None and chat.id == user.id
        await people.note_seen(actor, user.full_name, user.username, private=own_chat)
        return
    lang = await language(update, context)
    if update.callback_query is not None:
        await answer_query(update.callback_query, plain(lang, "not_registered")[:200])
    elif private and message is not None:
        await reply(update, text(lang, "not_registered_id", user_id=user.id))
    raise ApplicationHandlerStop


async def start(update: Update, context: Context) -> None:
    user = update.effective_user
    assert user is not None
    code = context.args[0] if context.args else None
    started = await services(context).people.start(
        user.id, user.full_name, user.username, code[:64] if code else None
    )
    for told in started.told:
        await reply(update, told)
    if started.welcome is not None:
        await set_menu(context.bot, started.actor, await language(update, context))
        await reply(update, started.welcome)


async def help_command(update: Update, context: Context) -> None:
    user = update.effective_user
    assert user is not None
    lang = await language(update, context)
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:
        # In a group, the help says what works there, not what the sender's roles can do.
        await reply(update, text(lang, "help_group"))
        return
    await reply(update, await services(context).people.help(user.id))


async def choose_language(update: Update, context: Context) -> None:
    lang = await language(update, context)
    await reply(
        update, text(lang, "lang_choose"), [[("简体中文", "lang:zh"), ("English", "lang:en")]]
    )


async def set_language(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.from_user is not None
    chosen = (query.data or "").removeprefix("lang:")
    if chosen not in LANGUAGES:
        await answer_query(query)
        return
    people = services(context).people
    await people.set_language(query.from_user.id, chosen)
    await answer_query(query, plain(chosen, "lang_set"))
    await reply(update, text(chosen, "lang_set"))
    actor = await people.actor(query.from_user.id)
    if actor.registered:
        await set_menu(context.bot, actor, chosen)


async def show_id(update: Update, context: Context) -> None:
    """/id: in a group, the group's id (what the organisation file's `group_chat` needs);
    in a private chat, the person's own user id."""
    chat, user = update.effective_chat, update.effective_user
    assert chat is not None and user is not None
    lang = await language(update, context)
    if chat.type == ChatType.PRIVATE:
        await reply(update, text(lang, "id_private", user_id=user.id))
    else:
        await reply(update, text(lang, "id_group", chat_id=chat.id))
