"""Serve a service's HTTP API from several processes on one port (role ``api``).

    python -m shared.runtime.serve contacts.main:create_app --port 8101 --workers 4

What ``uvicorn --factory --workers N --no-access-log`` does, with one difference: the
listening socket is opened as a TCP socket (``IPPROTO_TCP``). uvicorn opens it with protocol
0, which its server processes inherit for every accepted connection, so asyncio does not set
``TCP_NODELAY`` on them: a response written in two parts (head, body) then waits for the
client's delayed acknowledgement, ≈ 40 ms per request on Linux.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence

from uvicorn import Config
from uvicorn.supervisors import Multiprocess

from shared.metrics.registry import share_between_processes


def tcp_socket(host: str, port: int) -> socket.socket:
    """The listening socket, shared by the server processes (``TCP_NODELAY`` on each
    connection they accept)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", help="the app factory, e.g. contacts.main:create_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    sock = tcp_socket(args.host, args.port)
    config = Config(
        args.app,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
    )
    with share_between_processes(args.port):  # /metrics adds up every process's counters
        Multiprocess(config, sockets=[sock]).run()


if __name__ == "__main__":
    main()
