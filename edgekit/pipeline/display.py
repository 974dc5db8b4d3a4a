"""The plan as the user sees it before any work: each step, whether it comes from the cache, how long it will take."""

from __future__ import annotations

from rich.table import Table

from edgekit.core.ui import console

#: a plan estimated longer than this gets one line naming the cheaper alternatives
LONG_SECONDS = 30 * 60
TRAINING_STAGES = ("teacher", "prune", "kd", "finetune", "int8")


def duration(seconds: float | None) -> str:
    """'45 s', '12 min', '3 h 20 min'; '?' when unknown."""
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def label(node) -> str:
    """'export onnx', 'baseline verify tflite'."""
    return " ".join(p for p in ("baseline" if node.role == "baseline" else "", node.stage.name, node.target or "") if p)


def estimates(plan, hits: dict, probe) -> dict[str, float | None]:
    """Seconds per node that will run (cache hits take none)."""
    return {node.id: 0.0 if hits.get(node.id) is not None else node.stage.estimate(node, plan.setting, probe)
            for node in plan.nodes}


def plan_table(plan, hits: dict, seconds: dict[str, float | None]) -> Table:
    setting = plan.setting
    title = (f"plan: {setting.spec.name} @ {setting.img_size} px on {setting.data.name} "
             f"({setting.data.n_train:,} training images)")
    table = Table(title=title, title_justify="left", width=min(80, console.width), padding=(0, 1))
    table.add_column("step", no_wrap=True, min_width=22)
    table.add_column("what", overflow="ellipsis", no_wrap=True, ratio=1)
    table.add_column("cache", no_wrap=True, min_width=5)
    table.add_column("time", justify="right", no_wrap=True, min_width=10)
    for node in plan.nodes:
        hit = hits.get(node.id) is not None
        table.add_row(label(node), node.stage.describe(node, setting), "hit" if hit else "-",
                      "-" if hit else duration(seconds[node.id]))
    total = sum(s for s in seconds.values() if s)
    table.add_row("total", "", "", f"≈ {duration(total)}", style="bold")
    return table


def long_plan_line(plan, seconds: dict[str, float | None]) -> str | None:
    """One line when the plan is long, with what would make it cheaper; None otherwise."""
    total = sum(s for s in seconds.values() if s)
    if total <= LONG_SECONDS:
        return None
    setting, recipe = plan.setting, plan.setting.recipe
    training = sum(seconds[n.id] or 0 for n in plan.nodes if n.stage.name in TRAINING_STAGES)
    biggest = max(plan.nodes, key=lambda n: seconds[n.id] or 0)
    cheaper = []
    if setting.img_size > 64:
        scaled = training * (64 / setting.img_size) ** 2 + (total - training)
        cheaper.append(f"--img-size 64 (≈ {duration(scaled)})")
    if setting.data.n_train > 5000:
        scaled = training * 5000 / setting.data.n_train + (total - training)
        cheaper.append(f"--subset 5000 (≈ {duration(scaled)})")
    if recipe.train.epochs > 1:
        cheaper.append("--epochs 1")
    if setting.teacher_trains:
        cheaper.append("--weights PATH (skip teacher training)")
    return (f"this plan is long: ≈ {duration(total)} ({label(biggest)} ≈ {duration(seconds[biggest.id])}); "
            f"cheaper: {', '.join(cheaper) or 'fewer formats'}")
