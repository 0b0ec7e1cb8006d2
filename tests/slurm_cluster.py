"""A throw-away single-node SLURM cluster for integration tests (Debian slurm-wlm 22.05 + munge).

`ensure_slurm()` installs the packages with apt-get when they are missing (root only) and returns a
reason string when that is impossible (the caller skips). `SlurmCluster(tmp)` writes `slurm.conf` and
`gres.conf` into `tmp`, starts munged (unless one already answers), `slurmctld` and `slurmd` in the
foreground as child processes on free ports, and waits for the node to be idle; `stop()` cancels the
cluster's jobs and ends exactly the processes it started, by PID. Commands that talk to this cluster
(sbatch, squeue, snakemake) need `cluster.env` (it sets SLURM_CONF).

Inside a job, snakemake-executor-plugin-slurm-jobstep runs the rule under a nested `srun` with every
SLURM_* variable except the job's identity removed - SLURM_CONF included - so `srun` falls back to the
default /etc/slurm/slurm.conf. The cluster therefore links /etc/slurm/slurm.conf to its config while
it runs (only when no such file exists; otherwise it refuses to start) and removes the link on stop.

Layout follows docs in ../shared/notes/facts.md ("SLURM on one machine"): no accounting, no cgroups,
`proctrack/linuxproc`, one fake GPU (`gres.conf` File=/dev/null) so `--gpus=1` jobs are accepted.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "munged", "munge", "unmunge")


def ensure_slurm(timeout: float = 900) -> str | None:
    """None when SLURM and munge are usable here (installing them if needed), else why not."""
    if all(shutil.which(b) or Path("/usr/sbin", b).exists() for b in BINARIES):
        return None
    if os.geteuid() != 0:
        return "slurm-wlm/munge are not installed and the tests do not run as root (apt-get needs root)"
    if shutil.which("apt-get") is None:
        return "slurm-wlm/munge are not installed and apt-get is not available"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
            if done.returncode != 0:
                return f"`{' '.join(cmd)}` failed ({done.returncode}): {(done.stdout + done.stderr)[-800:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"installing {' '.join(PACKAGES)} failed: {exc}"
    missing = [b for b in BINARIES if not (shutil.which(b) or Path("/usr/sbin", b).exists())]
    return f"still missing after apt-get install: {missing}" if missing else None


def _bin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4000


class SlurmCluster:
    """One node (this machine) in one partition `debug`; see the module docstring."""

    def __init__(self, tmp: Path, *, cpus: int | None = None, gpus: int = 1) -> None:
        self.dir = Path(tmp)
        self.host = socket.gethostname().split(".")[0]
        self.cpus = cpus or os.cpu_count() or 1
        # SLURM marks a node invalid when RealMemory exceeds what slurmd finds: stay below it.
        self.mem_mb = max(1000, int(_mem_mb() * 0.8))
        self.gpus = gpus
        self.partition = "debug"
        self.conf = self.dir / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._procs: dict[str, subprocess.Popen] = {}
        self._logs: list[Path] = []
        self.system_conf = Path("/etc/slurm/slurm.conf")
        self._linked = False

    # ---- configuration ------------------------------------------------------------------------
    def write_config(self) -> None:
        d = self.dir
        for sub in ("state", "spool", "log"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        lines = [
            "ClusterName=stddtest",
            f"SlurmctldHost={self.host}",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "AuthType=auth/munge",
            "CryptoType=crypto/munge",
            "MpiDefault=none",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "ReturnToService=2",
            "MinJobAge=300",  # finished jobs stay visible to squeue for 5 min (the plugin's status check)
            "KillWait=5",
            f"StateSaveLocation={d / 'state'}",
            f"SlurmdSpoolDir={d / 'spool'}",
            f"SlurmctldPidFile={d / 'slurmctld.pid'}",
            f"SlurmdPidFile={d / 'slurmd.pid'}",
            f"SlurmctldLogFile={d / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={d / 'log' / 'slurmd.log'}",
            "GresTypes=gpu",
            f"NodeName={self.host} CPUs={self.cpus} RealMemory={self.mem_mb}"
            + (f" Gres=gpu:{self.gpus}" if self.gpus else "") + " State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        # A GPU line without File= marks the node invalid; /dev/null stands in for the device.
        gres = "".join(f"NodeName={self.host} Name=gpu File=/dev/null\n" for _ in range(self.gpus))
        (d / "gres.conf").write_text(gres)
        self._logs = [d / "log" / "slurmctld.log", d / "log" / "slurmd.log"]

    # ---- daemons ------------------------------------------------------------------------------
    def _munge_works(self) -> bool:
        try:
            cred = subprocess.run([_bin("munge"), "-n"], capture_output=True, timeout=10, check=False)
            if cred.returncode != 0:
                return False
            back = subprocess.run([_bin("unmunge")], input=cred.stdout, capture_output=True, timeout=10,
                                  check=False)
            return back.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def _start_munged(self) -> None:
        if self._munge_works():
            return  # someone's munged already answers: use it, and leave it running
        import pwd

        user = pwd.getpwnam("munge")
        for folder in (Path("/run/munge"), Path("/var/log/munge"), Path("/var/lib/munge")):
            folder.mkdir(parents=True, exist_ok=True)
            os.chown(folder, user.pw_uid, user.pw_gid)
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            subprocess.run([_bin("mungekey"), "--create"], check=True, timeout=30)
            os.chown(key, user.pw_uid, user.pw_gid)
            key.chmod(0o400)
        self._procs["munged"] = subprocess.Popen(
            [_bin("munged"), "--foreground"], user=user.pw_uid, group=user.pw_gid,
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "log" / "munged.log", "wb"),
            start_new_session=True,
        )
        self._wait(self._munge_works, 20, "munged did not answer `munge -n | unmunge`")

    def _link_system_conf(self) -> None:
        if self.system_conf.is_symlink() and not self.system_conf.exists():
            self.system_conf.unlink()  # a dangling link left by a killed earlier test run
        if self.system_conf.exists() or self.system_conf.is_symlink():
            raise RuntimeError(f"{self.system_conf} exists (a real SLURM setup?); not replacing it")
        self.system_conf.parent.mkdir(parents=True, exist_ok=True)
        self.system_conf.symlink_to(self.conf)
        self._linked = True

    def _unlink_system_conf(self) -> None:
        if self._linked and self.system_conf.is_symlink() and Path(os.readlink(self.system_conf)) == self.conf:
            self.system_conf.unlink()
        self._linked = False

    def start(self) -> "SlurmCluster":
        self.write_config()
        try:
            self._link_system_conf()
            self._start_munged()
            for name, cmd in (
                ("slurmctld", [_bin("slurmctld"), "-D", "-i", "-f", str(self.conf)]),
                ("slurmd", [_bin("slurmd"), "-D", "-f", str(self.conf)]),
            ):
                self._procs[name] = subprocess.Popen(
                    cmd, env=self.env, stdout=subprocess.DEVNULL,
                    stderr=open(self.dir / "log" / f"{name}.stderr", "wb"), start_new_session=True,
                )
                time.sleep(1.0)
            self._wait(self._node_ready, 60, "the node did not become idle")
        except BaseException:
            self.stop()
            raise
        return self

    def _node_ready(self) -> bool:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.logs_tail()}")
        out = self.run(["sinfo", "-h", "-N", "-o", "%T"], check=False).stdout.strip()
        return out in ("idle", "mixed", "allocated")

    def _wait(self, predicate, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{message} within {timeout:.0f} s\n{self.logs_tail()}")

    def run(self, cmd: list[str], check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster."""
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=check)

    def logs_tail(self, chars: int = 3000) -> str:
        parts = []
        for path in sorted((self.dir / "log").glob("*")):
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {path.name}\n{text[-chars:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel this cluster's jobs, then end the daemons this object started (by PID, newest first)."""
        if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
            try:
                self.run(["scancel", "--full", "--partition", self.partition], check=False, timeout=15)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    if not self.run(["squeue", "-h", "-o", "%i"], check=False, timeout=15).stdout.strip():
                        break
                    time.sleep(0.5)
            except (OSError, subprocess.SubprocessError):
                pass
        for name in reversed(list(self._procs)):
            proc = self._procs.pop(name)
            if proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._unlink_system_conf()

    def __enter__(self) -> "SlurmCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
