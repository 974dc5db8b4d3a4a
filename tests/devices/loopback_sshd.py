"""A real OpenSSH server on 127.0.0.1 with throwaway keys (tests and benchmarks/devices_ssh.py use it)."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Sshd:
    """An sshd the test owns: `devices_yaml()` names it; `stop()` kills it (and every session) mid-run."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.user = folder, _free_port(), getpass.getuser()
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
        (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
        (folder / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            f"PidFile {folder / 'sshd.pid'}\nSetEnv HOME={folder / 'home'} "
            f"PATH={folder / 'bin'}:/usr/local/bin:/usr/bin:/bin\n")
        (folder / "bin").mkdir()  # tools a test puts on the device's PATH (e.g. a fake nvpmodel)
        (folder / "home").mkdir()  # sessions start here: no dotfiles of the real user, no files left in their home
        (folder / "ssh_config").write_text(
            f"Host *\n  IdentityFile {folder / 'client_key'}\n  IdentitiesOnly yes\n  UserKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking no\n  LogLevel ERROR\n")
        self.process: subprocess.Popen | None = None

    @property
    def spec(self) -> str:
        return f"ssh:{self.user}@127.0.0.1:{self.port}"

    @property
    def ssh_options(self) -> str:
        return f"-F {self.folder / 'ssh_config'}"

    def start(self) -> None:
        Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.folder / "sshd_config")],
                                        stdout=subprocess.DEVNULL, stderr=open(self.folder / "sshd.log", "wb"),
                                        start_new_session=True)
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not start: {(self.folder / 'sshd.log').read_text()[-500:]}")

    def stop(self) -> None:
        """Kill the server and all its sessions (a disconnect, as a cable pull looks from here)."""
        if self.process is not None:
            for pid in [self.process.pid, *_descendants(self.process.pid)]:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            self.process.wait()
            self.process = None

    def devices_yaml(self, path: Path, **extra) -> Path:
        lines = ["devices:", "  loop:", f"    ssh: {self.user}@127.0.0.1", f"    port: {self.port}",
                 f"    python: {sys.executable}", *(f"    {k}: {v}" for k, v in extra.items())]
        path.write_text("\n".join(lines) + "\n")
        return path




def loopback_device(folder: Path) -> Sshd:
    """A started loopback server for a benchmark, with this process's environment pointing edgekit at it."""
    server = Sshd(folder)
    server.start()
    os.environ["EDGEKIT_SSH_OPTIONS"] = server.ssh_options
    os.environ["EDGEKIT_DEVICE_PYTHON"] = sys.executable
    return server
