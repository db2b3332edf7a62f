"""``tftrade serve``: Nagle off on its connections (no 40 ms keep-alive stalls); SIGTERM stops it with streams open."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
from typing import TYPE_CHECKING

import pytest

from tftrade.cli.service_cmd import listen

if TYPE_CHECKING:
    from tests.conftest import CliWorkspace



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


def test_sigterm_stops_serve_while_a_dashboard_holds_the_event_stream_open(cli_workspace: CliWorkspace) -> None:
    env, cli, key = cli_workspace.env, cli_workspace.cli, cli_workspace.key
    with subprocess.Popen([*cli, "serve", "--port", "0", "--no-model", "--json"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            while not first.rstrip().endswith("}"):  # the serving document (indented JSON)
                first += proc.stdout.readline()
            port = int(json.loads(first)["url"].rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sse:
                sse.sendall(f"GET /events HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\r\n".encode())
                assert b"200 OK" in sse.recv(4096)  # the stream is open (and stays open)
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=30)  # was: waited for the stream's client for ever
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled, once shut down
