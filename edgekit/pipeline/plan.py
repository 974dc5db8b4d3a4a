"""Plan a run: resolve the recipe, lay out every stage as a node, validate the whole plan and key every node.

Nothing is trained, exported or written here; every bad input is one clear line before any work starts.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

from edgekit import __version__
from edgekit.bench.reference import load_reference_run
from edgekit.core.cache import digest
from edgekit.core.errors import EdgekitError, first_line
from edgekit.core.formats import parse_formats
from edgekit.core.recipe import Recipe, check_writable_out, flag_for
from edgekit.data import check_data_spec
from edgekit.data.info import describe as describe_data
from edgekit.models.build import check_img_size, meta_model
from edgekit.models.checkpoint import is_checkpoint, model_spec, read_description
from edgekit.models.plugins import load_modules
from edgekit.models.zoo import resolve
from edgekit.stages import (
    STAGES,
    Bench,
    Evaluate,
    Export,
    Finetune,
    Gate,
    Int8,
    Kd,
    Prune,
    Reference,
    SwapAttention,
    Teacher,
    Verify,
)
from edgekit.stages.base import Node, Setting, Stage, dump, pick
from edgekit.stages.prune import can_train
from edgekit.stages.teacher import will_train
from edgekit.stages.train import check_training
from edgekit.stages.train_state import check_model, read_state
from edgekit.stages.training_recipe import apply_training_recipe

DEFAULT_NUM_CLASSES = 1000
#: options that switch a stage on or off, or shape the plan itself: never "unused"
STRUCTURAL = {"prune.ratio", "prune.target", "int8.enabled", "bench.enabled", "recover.kd", "export.formats",
              "attention.kind"}
#: what to do to bring a section's stage into the plan
SECTION_HINT = {"prune": "add --prune R or --prune-target", "recover": "recovery follows --prune R or --attention K",
                "int8": "add --int8", "bench": "drop --no-bench",
                "attention": "add --attention linformer|performer",
                "train": "nothing trains: the teacher has its weights or the data no labels, and no recovery follows",
                "export": "add --int8 and tflite to --formats", "budget": "add --budget FILE"}


@dataclass
class Plan:
    """The nodes of a run in execution order, and the roles the report gives them."""

    setting: Setting
    nodes: list[Node] = field(default_factory=list)
    chain: list[Node] = field(default_factory=list)  # teacher → prune → kd|finetune → int8: the models

    @property
    def teacher(self) -> Node:
        return self.chain[0]

    @property
    def final(self) -> Node:
        return self.chain[-1]

    @property
    def compressed(self) -> bool:
        return len(self.chain) > 1

    @property
    def trains(self) -> bool:
        """Some node trains (it reads the train options): teacher training, fine-tuning, recovery, QAT."""
        return any("train" in node.stage.reads_for(self.setting, node) for node in self.nodes)

    def add(self, stage: Stage, inputs: dict[str, Node] | None = None, target: str | None = None,
            role: str = "artifact") -> Node:
        node_id = stage.name + (f":{target}" if target else "") + (f"@{role}" if role != "artifact" else "")
        node = Node(node_id, stage, inputs or {}, target, role)
        self.nodes.append(node)
        return node

    def find(self, stage: str, target: str | None = None, role: str = "artifact") -> Node | None:
        return next((n for n in self.nodes if n.stage.name == stage and n.target == target and n.role == role), None)


def resolve_setting(recipe: Recipe) -> Setting:
    """The recipe checked against the registries and the file system: model, size, classes, data, formats."""
    checkpoint = None
    model = Path(recipe.model)
    load_modules(recipe.model_module)
    if is_checkpoint(model):
        checkpoint, _ = read_description(model)
        spec = model_spec(checkpoint, f"checkpoint '{recipe.model}'")
        img_size = checkpoint.img_size if recipe.data.img_size is None else recipe.data.img_size
        if img_size != checkpoint.img_size:
            raise EdgekitError(f"checkpoint '{recipe.model}' was built for {checkpoint.img_size} px, not {img_size}")
        if recipe.teacher.model_args and recipe.teacher.model_args != checkpoint.model_args:
            raise EdgekitError(f"checkpoint '{recipe.model}' was built with model arguments "
                               f"{checkpoint.model_args or 'none'}: --model-arg cannot change them")
    elif _looks_like_path(recipe.model):
        raise EdgekitError(
            f"'{recipe.model}' is a path, not a model name: name the architecture and pass the file with "
            f"--weights (e.g. edgekit compress effnet_lite0 --weights {recipe.model}), or use timm:<name>")
    else:
        spec = resolve(recipe.model).with_args(recipe.teacher.model_args)
        img_size = spec.img_size if recipe.data.img_size is None else recipe.data.img_size
    check_img_size(spec, img_size)
    if spec.args and checkpoint is None:  # a factory or timm that refuses them says so now, before any work
        _check_model_args(spec, img_size)
    recipe, training = apply_training_recipe(recipe, spec)
    formats = parse_formats(recipe.export.formats)
    check_data_spec(recipe.data.source)
    data = describe_data(recipe.data.source, recipe.data.subset, recipe.seed)
    setting = Setting(recipe, spec, img_size, _num_classes(recipe, data, checkpoint), data, formats, checkpoint,
                      training_recipe=training)
    setting.teacher_trains = will_train(setting)
    if recipe.reference is not None:  # a directory that is not a valid run is refused here, before any work
        setting.reference = load_reference_run(recipe.reference)
    if recipe.resume is not None:  # a corrupt, truncated or foreign state file is refused (and left untouched)
        check_model(read_state(recipe.resume), recipe.resume, spec.name)
    check_writable_out(recipe.run_dir(), recipe.overwrite)
    return setting


def _check_model_args(spec, img_size: int) -> None:
    """Build the model on the meta device with its --model-arg keywords: one line when they are refused."""
    try:
        meta_model(spec, 1000, img_size)
    except EdgekitError:
        raise
    except Exception as exc:  # timm's or a model class's own check of a value
        args = ", ".join(f"{key}={value}" for key, value in spec.args)
        raise EdgekitError(f"--model-arg {args}: {spec.name} cannot be built with them "
                           f"({type(exc).__name__}: {first_line(exc, 200)})") from exc


def _looks_like_path(name: str) -> bool:
    return not name.startswith("timm:") and ("/" in name or "\\" in name or Path(name).suffix in
                                              (".pt", ".pth", ".bin", ".safetensors", ".onnx", ".tflite", ".pte"))


def _num_classes(recipe: Recipe, data, checkpoint) -> int:
    requested = recipe.data.num_classes
    if checkpoint is not None:
        if data.labelled and data.num_classes != checkpoint.num_classes:
            raise EdgekitError(f"checkpoint has {checkpoint.num_classes} classes but --data has {data.num_classes}")
        return checkpoint.num_classes
    if data.labelled:
        if requested is not None and requested != data.num_classes:
            raise EdgekitError(f"--num-classes {requested} disagrees with --data, which has {data.num_classes} "
                               "classes")
        return data.num_classes
    return requested or DEFAULT_NUM_CLASSES


def lay_out(setting: Setting) -> Plan:
    """Every stage of the run as a node: the model chain, then per format export → verify (→ baseline), the
    reference run's file (--reference), bench."""
    recipe, plan = setting.recipe, Plan(setting)
    teacher = plan.add(Teacher())
    plan.chain.append(teacher)
    if recipe.prune.enabled():
        plan.chain.append(plan.add(Prune(), {"model": teacher}))
    if recipe.attention.enabled():  # the student's attention, after pruning (which cannot follow the swap)
        plan.chain.append(plan.add(SwapAttention(), {"model": plan.final}))
    if plan.compressed:
        recover = _recovery(setting)
        if recover is not None:
            plan.chain.append(plan.add(recover, {"model": plan.final, "teacher": teacher}))
    if recipe.int8.enabled:
        plan.chain.append(plan.add(Int8(), {"model": plan.final, "teacher": teacher}))
    roles = [(plan.final, "artifact")] + ([(teacher, "baseline")] if plan.compressed else [])
    if setting.data.labelled:
        for model, role in roles:
            plan.add(Evaluate(), {"model": model}, role=role)
    for spec in setting.formats:
        for model, role in roles:
            exported = plan.add(Export(), {"model": model}, spec.name, role)
            plan.add(Verify(), {"file": exported, "model": model}, spec.name, role)
    references = {}
    if setting.reference is not None:  # the earlier run's file of each format both runs have
        for fmt in setting.reference.formats_for([spec.name for spec in setting.formats]):
            references[fmt] = plan.add(Reference(), target=fmt)
    if recipe.bench.enabled:
        for spec in setting.formats:
            inputs = {"check": plan.find("verify", spec.name), "file": plan.find("export", spec.name)}
            if plan.compressed:
                inputs.update(baseline_check=plan.find("verify", spec.name, "baseline"),
                              baseline_file=plan.find("export", spec.name, "baseline"))
            if spec.name in references:
                inputs["reference"] = references[spec.name]
            plan.add(Bench(), inputs, spec.name)
    if recipe.budget.file is not None:
        plan.add(Gate())
    return plan


def _recovery(setting: Setting) -> Stage | None:
    """kd after pruning (explicitly, or by default when the data can train); finetune with --no-kd."""
    kd = setting.recipe.recover.kd
    if kd or (kd is None and can_train(setting)):
        return Kd()
    return Finetune() if kd is False and can_train(setting) else None


def validate(plan: Plan) -> None:
    """The whole plan before any work: stage order, each stage's own checks, no option left unused."""
    for node in plan.nodes:
        first = next(iter(node.inputs.values()), None)
        if first is not None and first.stage.name not in node.stage.may_follow:
            raise EdgekitError(f"stage '{node.stage.name}' cannot follow '{first.stage.name}' (it needs one of: "
                               f"{', '.join(node.stage.may_follow)} before it)")
    for node in plan.nodes:
        node.stage.check(node, plan.setting)
    if plan.trains:
        check_training(plan.setting.recipe.train)  # a bad policy, or a GPU this machine lacks, fails here
    for name in plan.setting.recipe.refresh:
        STAGES.canonical(name)
    _refuse_unused_options(plan)


def _refuse_unused_options(plan: Plan) -> None:
    """An option given for a stage that is not in the plan is an error, never silently ignored."""
    read = {path for node in plan.nodes for path in node.stage.reads_for(plan.setting, node)}
    recipe = plan.setting.recipe
    unused = [path for path in recipe.set_paths() if "." in path and path not in STRUCTURAL
              and path not in read and path.split(".")[0] not in read]
    if recipe.train.epochs == 0:  # --epochs 0 turns training off: its other options are moot, not wrong
        unused = [path for path in unused if not path.startswith("train.")]
    if unused:
        section = unused[0].split(".")[0]
        flags = ", ".join(flag_for(path) for path in unused)
        raise EdgekitError(f"{flags}: {'this option sets' if len(unused) == 1 else 'these options set'} the "
                           f"{section} stage, which is not in this plan ({SECTION_HINT.get(section, 'see --help')})")


def assign_keys(plan: Plan) -> None:
    """Each node's options (only what it reads) and its cache key: stage, version, library versions, options,
    inputs' keys and the node's own identity (file hashes, data fingerprint, host)."""
    for node in plan.nodes:
        node.options = pick(plan.setting.recipe, node.stage.reads_for(plan.setting, node))
        node.key = digest({
            "stage": node.stage.name, "version": node.stage.version, "edgekit": __version__,
            "packages": {name: _version(name) for name in node.stage.libraries_for(node)},
            "options": dump(node.options), "inputs": {name: n.key for name, n in node.inputs.items()},
            "target": node.target, "identity": node.stage.identity(node, plan.setting),
        })


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def make_plan(recipe: Recipe) -> Plan:
    """Resolve, lay out, validate and key a run (no work done, nothing written)."""
    setting = resolve_setting(recipe)
    plan = lay_out(setting)
    validate(plan)
    assign_keys(plan)
    return plan

