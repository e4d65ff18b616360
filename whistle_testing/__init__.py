"""Tools for trying Whistle without Telegram: a loopback Bot API server, faults to inject
into it, simulated people who talk to the bot through it, and the demo's scripted street.
Tests, benchmarks and `whistle demo` use it; the running bot never imports it."""

from whistle_testing.faults import SENDING_METHODS, Fault, FaultPlan, TelegramLimits
from whistle_testing.protocol import ApiCall, ApiError, LoopbackBotApi, plain_text
from whistle_testing.users import SentMessage, SimulatedUser

__all__ = [
    "SENDING_METHODS",
    "ApiCall",
    "ApiError",
    "Fault",
    "FaultPlan",
    "LoopbackBotApi",
    "SentMessage",
    "SimulatedUser",
    "TelegramLimits",
    "plain_text",
]
