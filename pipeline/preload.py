"""A preloaded command server: import torch & co. once, fork one child per `python -m pipeline COMMAND`.

Every model job of the workflow spends ~4.5 s (2 CPU threads) importing torch, torchvision, timm and
albumentations before it does any work; the demo runs ~150 such jobs. With `workflow.preload` on, the
Snakefile starts this server for the run, and `python -m pipeline` (pipeline/__main__.py) hands its
command line, working directory, environment and stdin/stdout/stderr to it over a Unix socket. The
server forks a child that already holds those libraries, runs the command there and sends back its
exit status. Only third-party libraries are preloaded: the child imports the `pipeline` modules fresh,
so edited code always runs. The client forwards SIGINT/SIGTERM/SIGHUP to the child; if the client
dies (a killed Snakemake), the child is killed too; if the watched Snakemake process exits, the server
kills its children and stops. No server (or a connection refused) means the command runs in-process.

Benchmarks (`benchmark:` TSVs) then measure the client: wall-clock seconds stay right, CPU and memory
columns do not include the child.
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import tempfile
import sys
import threading
import time
from pathlib import Path

from pipeline.preload_client import FORWARDED, LENGTH, SOCKET_ENV

HEAVY_MODULES = ("torch", "torchvision", "timm", "albumentations", "h5py", "cv2", "scipy.special", "sklearn.metrics",
                 "matplotlib.pyplot")


# ---- server side ------------------------------------------------------------------------------------------


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    head, fds, _, _ = socket.recv_fds(conn, 4096, 3)
    while len(head) < LENGTH.size:
        head += conn.recv(4096)
    (size,) = LENGTH.unpack(head[:LENGTH.size])
    body = head[LENGTH.size:]
    while len(body) < size:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client closed during the request")
        body += chunk
    return json.loads(body), fds


def _child(request: dict, fds: list[int], server_fds: set[int]) -> None:
    """In the forked child: become the client's process, run its command and exit with its status."""
    for fd in server_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    os.setpgid(0, 0)  # the client forwards signals to this group (DataLoader workers included)
    for signum in (*FORWARDED, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.pop(SOCKET_ENV, None)
    status = 1
    try:
        threads = os.environ.get("OMP_NUM_THREADS")
        if threads and threads.isdigit():
            import torch

            torch.set_num_threads(int(threads))
        from pipeline.__main__ import main

        sys.argv = ["python -m pipeline", *request["argv"]]
        status = main(request["argv"])
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int) and exc.code is not None:
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - a crash in the command is the command's failure, as in-process
        import traceback

        traceback.print_exc()
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _exit_status(wait_status: int) -> int:
    """The status a shell reports: the exit code, or 128 + the signal that killed the child."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def serve(path: Path, watch_pid: int | None, idle_timeout: float) -> int:
    """Accept commands on the Unix socket `path` until `watch_pid` exits or nothing ran for `idle_timeout` s."""
    for name in HEAVY_MODULES:
        try:
            __import__(name)
        except ImportError:
            pass
    if threading.active_count() > 1:  # forking would copy a process whose other threads vanish in the child
        print(f"preload: {threading.active_count()} threads after the imports; not serving", flush=True)
        return 1
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    last_active = time.monotonic()
    print(f"preload server {os.getpid()} ready on {path}", flush=True)
    try:
        while True:
            for key, _ in selector.select(timeout=0.2):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    try:
                        request, fds = _receive(conn)
                    except (OSError, ValueError) as exc:
                        print(f"bad request: {exc}", flush=True)
                        conn.close()
                        continue
                    pid = os.fork()
                    if pid == 0:
                        _child(request, fds, {conn.fileno(), *_selector_fds(selector)})
                    _own_group(pid)  # before the client learns the pid: its signals go to this group
                    for fd in fds:
                        os.close(fd)
                    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                    children[pid] = conn
                    selector.register(conn, selectors.EVENT_READ, pid)
                elif not key.fileobj.recv(1):  # the client went away: its job was killed
                    _kill(key.data)
            for pid, conn in list(children.items()):
                done, wait_status = os.waitpid(pid, os.WNOHANG)
                if done:
                    selector.unregister(conn)
                    try:
                        conn.sendall(json.dumps({"status": _exit_status(wait_status)}).encode() + b"\n")
                    except OSError:
                        pass
                    conn.close()
                    del children[pid]
            if children:
                last_active = time.monotonic()
            if (watch_pid and not _alive(watch_pid)) or time.monotonic() - last_active > idle_timeout:
                return 0
    finally:
        for pid in children:
            _kill(pid)
        listener.close()
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()  # start_server's private folder
        except OSError:
            pass


def _own_group(pid: int) -> None:
    """Make the child lead its own process group from the parent too (the child also does it): whichever
    runs first, the group exists before the client can forward a signal to it (`os.killpg(pid, ...)`)."""
    try:
        os.setpgid(pid, pid)
    except OSError:  # the child already exited, or set it itself and exec'd
        pass


def _selector_fds(selector: selectors.BaseSelector) -> list[int]:
    return [key.fd for key in selector.get_map().values()]


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_server(python: str, cwd: str, log: Path, timeout: float = 60.0) -> subprocess.Popen | None:
    """Start a server watching this process and set $STDD_PRELOAD_SOCKET for the jobs it spawns.

    None (and the jobs run their commands in-process) if it is not ready within `timeout` seconds.
    """
    path = Path(tempfile.mkdtemp(prefix="stdd-preload-")) / "sock"  # short: Unix socket paths max ~108 bytes
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen([python, "-m", "pipeline.preload", "--socket", str(path), "--watch-pid",
                                 str(os.getpid())], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            return None
        time.sleep(0.1)
    os.environ[SOCKET_ENV] = str(path)
    return proc


def stop_server(proc: subprocess.Popen | None) -> None:
    """Stop a server from `start_server` (its children are killed with it)."""
    os.environ.pop(SOCKET_ENV, None)
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.preload", description=__doc__.splitlines()[0])
    parser.add_argument("--socket", type=Path, required=True, help="Unix socket path to listen on")
    parser.add_argument("--watch-pid", type=int, default=None, help="stop when this process (Snakemake) exits")
    parser.add_argument("--idle-timeout", type=float, default=3600.0, help="stop after this many idle seconds")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return serve(args.socket, args.watch_pid, args.idle_timeout)


if __name__ == "__main__":
    sys.exit(main())
