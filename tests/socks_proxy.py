"""A SOCKS5 proxy on 127.0.0.1 for tests (RFC 1928 CONNECT with RFC 1929 username and
password): it tunnels every connection to the address the client asks for and counts the
connections, so a test can tell that the bot's calls really went through it. Every host
name it is asked for is taken to mean 127.0.0.1, so a name that nothing else resolves
(`bot-api.invalid`) is reachable only through the proxy."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class SocksProxy:
    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.tunnels: list[tuple[str, int]] = []
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"socks5://{self.username}:{self.password}@127.0.0.1:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream = await self._handshake(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            upstream = None
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5 or 2 not in methods:
            writer.write(b"\x05\xff")
            self.refused += 1
            return None
        writer.write(b"\x05\x02")
        _, length = await reader.readexactly(2)
        username = (await reader.readexactly(length)).decode()
        (length,) = await reader.readexactly(1)
        password = (await reader.readexactly(length)).decode()
        if (username, password) != (self.username, self.password):
            writer.write(b"\x01\x01")
            self.refused += 1
            return None
        writer.write(b"\x01\x00")
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif kind == 3:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != 1:
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return None
        upstream = await asyncio.open_connection("127.0.0.1" if kind == 3 else host, port)
        self.tunnels.append((host, port))
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
        return upstream

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()
