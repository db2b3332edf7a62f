"""``tftrade serve``'s socket: connections are served with Nagle's algorithm off (no 40 ms stalls on keep-alive)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tftrade.cli.service_cmd import listen


def test_connections_accepted_on_the_serve_socket_have_tcp_nodelay() -> None:
    async def main() -> int:
        got: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            got.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listen("127.0.0.1", 0))
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(got, 10)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(main()) != 0


def test_a_port_in_use_cannot_be_listened_on_twice() -> None:
    first = listen("127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            listen("127.0.0.1", first.getsockname()[1]).close()
    finally:
        first.close()
