"""The client side of the preload server (`pipeline/preload.py`): hand a `python -m pipeline` command line to
the server named by $STDD_PRELOAD_SOCKET and wait for its exit status. Standard library only:
`pipeline/__main__.py` imports it before anything heavy."""
from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys

SOCKET_ENV = "STDD_PRELOAD_SOCKET"
LENGTH = struct.Struct("!Q")
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _send_request(sock: socket.socket, argv: list[str]) -> None:
    payload = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    message = LENGTH.pack(len(payload)) + payload
    sent = socket.send_fds(sock, [message[:4096]], [0, 1, 2])
    sock.sendall(message[sent:])


def _read_line(reader) -> dict | None:
    line = reader.readline()
    return json.loads(line) if line.endswith(b"\n") else None


def delegate(argv: list[str]) -> int | None:
    """Run `argv` in the preload server named by $STDD_PRELOAD_SOCKET; None when there is none to reach."""
    path = os.environ.get(SOCKET_ENV)
    if not path:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)  # held until they can be forwarded to the child
    try:
        sock.connect(path)
        _send_request(sock, argv)
        reader = sock.makefile("rb")
        started = _read_line(reader)
    except OSError:
        started = None
    if started is None:
        sock.close()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        return None
    pid = started["pid"]

    def forward(signum, _frame):
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    try:
        done = _read_line(reader)
    except OSError:
        done = None
    if done is None:
        print(f"pipeline {argv[0]}: error: the preload server ({path}) stopped while running the command",
              file=sys.stderr)
        return 1
    return int(done["status"])
