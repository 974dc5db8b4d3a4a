"""A stand-in `adb` for tests: the "device" is a folder ($EDGEKIT_FAKE_ADB_ROOT), push/pull/shell mapped onto it.

`adb [-s SERIAL] devices | get-state | push LOCAL REMOTE | pull REMOTE LOCAL | shell COMMAND...`, with adb's
messages and exit codes for a wrong serial and an offline device (a file OFFLINE in the root). Shell commands
run in /bin/sh with device paths (/data/local/tmp, /sys/..., /proc/cpuinfo) rewritten into the folder and the
folder's system/bin (getprop, dumpsys) first on PATH; `taskset` is this machine's, so pinning is real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(os.environ["EDGEKIT_FAKE_ADB_ROOT"])
SERIAL = os.environ.get("EDGEKIT_FAKE_ADB_SERIAL", "FAKE0001")
MAPPED = ("/data/local/tmp", "/sys/class/thermal", "/sys/devices/system/cpu", "/proc/cpuinfo")


def device_path(path: str) -> Path:
    return ROOT / path.lstrip("/")


def main(args: list[str]) -> int:
    serial = SERIAL
    if args[:1] == ["-s"]:
        serial, args = args[1], args[2:]
    if args[:1] == ["devices"]:
        print("List of devices attached")
        print(f"{SERIAL}\t{'offline' if (ROOT / 'OFFLINE').exists() else 'device'}\n")
        return 0
    if serial != SERIAL:
        print(f"adb: device '{serial}' not found", file=sys.stderr)
        return 1
    if (ROOT / "OFFLINE").exists():
        print("adb: device offline", file=sys.stderr)
        return 1
    command, rest = args[0], args[1:]
    if command == "get-state":
        print("device")
        return 0
    if command == "push":
        target = device_path(rest[1])
        if not target.parent.is_dir():
            print(f"adb: error: failed to copy '{rest[0]}' to '{rest[1]}': remote No such file or directory",
                  file=sys.stderr)
            return 1
        shutil.copyfile(rest[0], target)
        print(f"{rest[0]}: 1 file pushed, 0 skipped.")
        return 0
    if command == "pull":
        source = device_path(rest[0])
        if not source.is_file():
            print(f"adb: error: failed to stat remote object '{rest[0]}': No such file or directory",
                  file=sys.stderr)
            return 1
        shutil.copyfile(source, rest[1])
        print(f"{rest[0]}: 1 file pulled, 0 skipped.")
        return 0
    if command == "shell":
        text = " ".join(rest)
        for prefix in MAPPED:
            text = text.replace(prefix, str(ROOT) + prefix)
        env = {**os.environ, "PATH": f"{ROOT / 'system' / 'bin'}:{os.environ['PATH']}"}
        return subprocess.run(["/bin/sh", "-c", text], env=env, cwd=ROOT).returncode
    print(f"adb: unknown command {command}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
