"""The preload server (pipeline/preload.py): commands forked from it behave as if run in-process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pipeline.preload import SOCKET_ENV, start_server, stop_server

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("preload") / "server.log"
    proc = start_server(sys.executable, str(ROOT), log)
    assert proc is not None, log.read_text()
    path = os.environ[SOCKET_ENV]
    yield path, proc, log
    stop_server(proc)
    assert not Path(path).exists()


def pipeline_cmd(args: list[str], socket: str | None, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != SOCKET_ENV}
    if socket:
        env[SOCKET_ENV] = socket
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, **kwargs)


def test_output_and_status_match_in_process_runs(server, tmp_path):
    socket, _, _ = server
    for args in (["models"], ["tables", "--metrics", str(tmp_path / "missing.csv"), "--out", str(tmp_path)]):
        local, forked = pipeline_cmd(args, None), pipeline_cmd(args, socket)
        assert (forked.returncode, forked.stdout, forked.stderr) == (local.returncode, local.stdout, local.stderr)
    assert local.returncode == 2 and local.stderr.startswith("pipeline tables: error: ")


def blocked_command(server, fifo: Path, out: Path) -> tuple[subprocess.Popen, psutil.Process]:
    """A client whose command blocks (opening a FIFO without a writer), and the server's child running it."""
    socket, proc, _ = server
    os.mkfifo(fifo)
    client = subprocess.Popen([sys.executable, "-m", "pipeline", "tables", "--metrics", str(fifo), "--out", str(out)],
                              cwd=ROOT, env={**os.environ, SOCKET_ENV: socket})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if children := psutil.Process(proc.pid).children():
            return client, children[0]
        time.sleep(0.1)
    raise AssertionError("no forked child appeared")


def test_a_signal_to_the_client_reaches_the_command(server, tmp_path):
    client, child = blocked_command(server, tmp_path / "fifo", tmp_path / "out")
    client.send_signal(signal.SIGTERM)
    assert client.wait(timeout=10) == 128 + signal.SIGTERM
    child.wait(timeout=10)


def test_a_killed_client_takes_its_command_with_it(server, tmp_path):
    client, child = blocked_command(server, tmp_path / "fifo", tmp_path / "out")
    client.kill()  # SIGKILL: the client cannot forward it; the server sees the connection close
    client.wait(timeout=10)
    child.wait(timeout=10)


def test_no_server_means_in_process(tmp_path):
    result = pipeline_cmd(["models"], str(tmp_path / "no-such-socket"))
    assert result.returncode == 0 and "xception" in result.stdout


def test_server_stops_when_the_watched_process_exits(tmp_path):
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    sock = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.preload", "--socket", str(sock), "--watch-pid",
                             str(watched.pid)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sock.exists()
    watched.send_signal(signal.SIGKILL)
    watched.wait()
    assert proc.wait(timeout=10) == 0
    assert not sock.exists()
