"""`/healthz` and `/metrics` over HTTP, on a server of their own (`WHISTLE_HTTP_LISTEN`) or
on python-telegram-bot's webhook server when both listen on the same address.

Both servers are tornado (python-telegram-bot's `[webhooks]` extra): one framework for
everything the bot serves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import tornado.httpserver
import tornado.web

from bot.metrics import CONTENT_TYPE

HealthCheck = Callable[[], Awaitable[str | None]]
"""None when healthy, else one line saying why not."""
MetricsText = Callable[[], Awaitable[bytes]]


class _Health(tornado.web.RequestHandler):
    def initialize(self, check: HealthCheck) -> None:
        self.check = check

    async def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        problem = await self.check()
        if problem is None:
            self.write("ok\n")
        else:
            self.set_status(503)
            self.write(problem + "\n")


class _Metrics(tornado.web.RequestHandler):
    def initialize(self, exposition: MetricsText) -> None:
        self.exposition = exposition

    async def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.write(await self.exposition())


def routes(check: HealthCheck, exposition: MetricsText) -> list[Any]:
    return [
        (r"/healthz", _Health, {"check": check}),
        (r"/metrics", _Metrics, {"exposition": exposition}),
    ]


def add_to(app: tornado.web.Application, check: HealthCheck, exposition: MetricsText) -> None:
    """Serve the endpoints on an application that already serves something (the webhook)."""
    app.add_handlers(r".*", routes(check, exposition))


class EndpointServer:
    """The endpoints on a server of their own."""

    def __init__(self, check: HealthCheck, exposition: MetricsText) -> None:
        self._app = tornado.web.Application(routes(check, exposition), log_function=_quiet)
        self._server: tornado.httpserver.HTTPServer | None = None

    def start(self, host: str, port: int) -> None:
        self._server = tornado.httpserver.HTTPServer(self._app)
        self._server.listen(port, host)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None


def _quiet(handler: tornado.web.RequestHandler) -> None:
    """No access log: a scraper every 15 s would fill it."""
