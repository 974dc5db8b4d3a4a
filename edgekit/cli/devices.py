"""`edgekit devices list|doctor`: the devices edgekit can time files on, and what each one has or lacks."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from edgekit.cli.app import AsJson, app

devices_app = typer.Typer(no_args_is_help=True, help="Devices to time files on: this host, ssh boards, adb phones.")
app.add_typer(devices_app, name="devices")
DevicesFile = Annotated[Optional[str], typer.Option(
    "--devices", help="devices.yaml (default: $EDGEKIT_DEVICES, ./devices.yaml, ~/.config/edgekit/devices.yaml)")]


@devices_app.command("list")
def list_devices(devices: DevicesFile = None, as_json: AsJson = False) -> None:
    """The devices named in devices.yaml (and `local`), with how each is reached."""
    from rich.table import Table

    from edgekit.core.ui import console
    from edgekit.devices.config import load_devices

    named, path = load_devices(devices)
    rows = [{"name": "local", "kind": "local", "target": "this host", "cpus": None}]
    for name, s in named.items():
        target = (f"{s.ssh}" + (f":{s.port}" if s.port else "")) if s.ssh is not None else f"adb {s.adb or '(only)'}"
        rows.append({"name": name, "kind": "ssh" if s.ssh is not None else "adb", "target": target, "cpus": s.cpus})
    if as_json:
        typer.echo(json.dumps({"file": str(path) if path else None, "devices": rows}, indent=2))
        return
    table = Table(title=f"devices ({path or 'no devices.yaml found'})", title_justify="left")
    for column in ("name", "kind", "target", "cpus"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["kind"], row["target"], row["cpus"] or "-")
    console.print(table)


@devices_app.command("doctor")
def doctor(device: Annotated[str, typer.Argument(help="local | ssh:USER@HOST[:PORT] | adb:SERIAL | a name")],
           devices: DevicesFile = None, as_json: AsJson = False) -> None:
    """Check a device: reachable, CPU/SoC, OS, governor, temperature, runtimes and binaries (and how to fix each)."""
    from edgekit.core.ui import console
    from edgekit.devices import open_device

    checks = open_device(device, devices).doctor()
    if as_json:
        typer.echo(json.dumps([vars(c) for c in checks], indent=2))
    else:
        for check in checks:
            mark = "[green]ok[/]  " if check.ok else "[red]fix[/] "
            console.print(f"{mark} {check.what}: {check.detail}", highlight=False)
            if not check.ok and check.fix:
                console.print(f"      -> {check.fix}", highlight=False)
    if not checks or not checks[0].ok:
        raise typer.Exit(2)
