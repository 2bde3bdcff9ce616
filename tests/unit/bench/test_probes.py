"""The backlog probe reads unread bytes of the server's sockets from the kernel, both ways it can."""

from __future__ import annotations

import socket
import time

from bench.loadgen.probes import _established_via_proc, socket_backlogs


def test_unread_bytes_on_a_listening_port_show_as_its_backlog() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            with accepted:
                assert socket_backlogs(port) == [0]
                client.sendall(b"x" * 1234)
                deadline = time.monotonic() + 10
                while socket_backlogs(port) != [1234] and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert socket_backlogs(port) == [1234]
                assert [queued for local, queued in _established_via_proc() if local == port] == [1234]
                accepted.recv(2000)
                assert socket_backlogs(port) == [0]
