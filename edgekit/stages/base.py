"""The stage contract: what every step of the pipeline declares, and the typed outputs that flow between steps.

A stage names the stages it may follow, the recipe options it reads (the only options it sees, and the ones its
cache key hashes), the libraries whose versions key its cache, and a `run` that turns typed inputs into a typed
output. edgekit.pipeline plans, validates, caches and runs the stages; no stage sees the whole recipe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from edgekit.core.registry import Registry

if TYPE_CHECKING:
    import torch

    from edgekit.bench.reference import ReferenceRun
    from edgekit.core.formats import FormatSpec
    from edgekit.core.recipe import Recipe
    from edgekit.data import DataBundle
    from edgekit.data.info import DataInfo
    from edgekit.models.checkpoint import ModelDescription
    from edgekit.models.zoo import ModelSpec


class ModelArtifact:
    """A model between stages: description, precision and weights, loaded from the cache only when used.

    An int8 artifact is the PT2E integer graph (`module`) plus the float model it was quantized from
    (`float_module`, with QAT-updated weights): the float model is what the run directory's checkpoint holds.
    """

    def __init__(self, description: "ModelDescription", precision: str = "fp32", *,
                 module: "torch.nn.Module | None" = None, load: Callable[[], "torch.nn.Module"] | None = None,
                 float_module: "torch.nn.Module | None" = None,
                 load_float: Callable[[], "torch.nn.Module"] | None = None):
        self.description = description
        self.precision = precision
        self._module, self._load = module, load
        self._float, self._load_float = float_module, load_float

    @property
    def module(self) -> "torch.nn.Module":
        """The model in eval mode (stages that train work on a copy)."""
        if self._module is None:
            self._module = self._load()
        self._module.eval()  # a PT2E graph's patched eval() returns None: never chain it
        return self._module

    @property
    def float_module(self) -> "torch.nn.Module":
        """The float model: the module itself for fp32, the model it was quantized from for int8."""
        if self.precision == "fp32":
            return self.module
        if self._float is None:
            self._float = self._load_float()
        return self._float


@dataclass
class Output:
    """What a stage hands on: metrics for the report and a typed payload (a model or a record)."""

    metrics: dict = field(default_factory=dict)
    model: ModelArtifact | None = None
    record: Any = None  # a record of edgekit.core.records: exported file, verification, timing
    ok: bool = True  # a failed output (a file that failed verification) is reported, never cached
    folder: Path | None = None  # where the output's files are (its cache entry, or this run's scratch folder)


@dataclass
class Setting:
    """Everything known before any work starts: the recipe and what it resolves to."""

    recipe: "Recipe"
    spec: "ModelSpec"
    img_size: int
    num_classes: int
    data: "DataInfo"
    formats: list["FormatSpec"]
    checkpoint: "ModelDescription | None" = None  # MODEL is a checkpoint directory
    teacher_trains: bool = False  # the teacher stage will train (no weights, or a new head)
    reference: "ReferenceRun | None" = None  # --reference RUN_DIR, validated
    training_recipe: dict = field(default_factory=dict)  # the family training recipe applied, and what it set


@dataclass
class Node:
    """One step of a plan: a stage applied to other nodes' outputs, for a target (a format) and a role."""

    id: str
    stage: "Stage"
    inputs: dict[str, "Node"] = field(default_factory=dict)
    target: str | None = None  # the format of a per-file step
    role: str = "artifact"  # "artifact", or "baseline": the uncompressed FP32 teacher's files
    options: SimpleNamespace = field(default_factory=SimpleNamespace)
    key: str = ""


@dataclass
class Context:
    """What a running stage may use besides its inputs and options."""

    setting: Setting
    workdir: Path  # a fresh folder for this node's files: its cache entry once it succeeds
    run_dir: Path  # the final run directory (resumable training states go beside it)
    load_data: Callable[[], "DataBundle"]
    resume: Path | None = None

    @property
    def data(self) -> "DataBundle":
        return self.load_data()

    @property
    def stem(self) -> str:
        """File-name stem of exported files: the model's name."""
        return self.setting.spec.name.replace(":", "_")

    def state_path(self, stage: str) -> Path:
        """Where a training stage keeps its per-epoch resumable state: beside the run directory."""
        return self.run_dir.parent / f".{self.run_dir.name}.{stage}-state.pt"


class Stage(ABC):
    """One step of the pipeline. Subclasses set the class attributes and implement `run`."""

    name: ClassVar[str]
    #: stages whose output this one may take as input; the plan is refused otherwise, before any work
    may_follow: ClassVar[tuple[str, ...]] = ()
    #: recipe options read: "section", "section.field" or a top-level name; they key the cache
    reads: ClassVar[tuple[str, ...]] = ()
    #: pip distributions whose versions key the cache
    libraries: ClassVar[tuple[str, ...]] = ("torch",)
    #: bump when the stage's output changes for the same inputs and options
    version: ClassVar[int] = 1
    #: False: recomputed every run (instant, or about this run's report)
    cacheable: ClassVar[bool] = True
    #: True: runs even when an input failed (bench still times a baseline whose candidate failed)
    accepts_failed_inputs: ClassVar[bool] = False
    #: the pydantic record type of the output, for reading cache hits back
    record_type: ClassVar[Any] = None

    def reads_for(self, setting: Setting, node: Node) -> tuple[str, ...]:
        """The options this node reads (a stage that trains only sometimes reads `train` only then)."""
        return self.reads

    def libraries_for(self, node: Node) -> tuple[str, ...]:
        """The pip distributions whose versions key this node (a per-format stage depends on its format)."""
        return self.libraries

    def identity(self, node: Node, setting: Setting) -> dict:
        """What else keys this node's cache entry: file hashes, the data's fingerprint, the host."""
        return {}

    def check(self, node: Node, setting: Setting) -> None:
        """Refuse bad input for this node before any work (raise EdgekitError)."""

    @abstractmethod
    def run(self, node: Node, inputs: dict[str, Output], ctx: Context) -> Output:
        """This node's output from its inputs' outputs."""

    def describe(self, node: Node, setting: Setting) -> str:
        """A few words for the plan table: what this node will do."""
        return ""

    def estimate(self, node: Node, setting: Setting, probe: Any) -> float | None:
        """Seconds this node will take on this machine (None: unknown); `probe` measures speeds on demand."""
        return None

    def save(self, output: Output, folder: Path) -> dict:
        """Write what `load` needs into `folder` (the cache entry); returns the JSON-able part."""
        record = output.record.model_dump(mode="json") if output.record is not None else None
        return {"metrics": output.metrics, "record": record}

    def load(self, saved: dict, folder: Path, node: Node) -> Output:
        """The output of a cache hit: its saved part and its folder (models load only when used)."""
        record = self.record_type.model_validate(saved["record"]) if saved.get("record") is not None else None
        return Output(metrics=saved["metrics"], record=record, folder=folder)


def pick(recipe: "Recipe", paths: tuple[str, ...]) -> SimpleNamespace:
    """The options at `paths` of `recipe`: whole sections as their models, single fields under their section."""
    picked: dict[str, Any] = {}
    for path in paths:
        if "." in path:
            section, name = path.split(".", 1)
            fields = picked.setdefault(section, {})
            if isinstance(fields, dict):
                fields[name] = getattr(getattr(recipe, section), name)
        else:
            picked[path] = getattr(recipe, path)
    return SimpleNamespace(**{k: SimpleNamespace(**v) if isinstance(v, dict) else v for k, v in picked.items()})


def dump(options: SimpleNamespace) -> dict:
    """Picked options as JSON-able data (for cache keys)."""
    out = {}
    for key, value in vars(options).items():
        if hasattr(value, "model_dump"):  # a whole section, less what cannot change results
            out[key] = value.model_dump(mode="json", exclude=type(value).unkeyed())
        elif isinstance(value, SimpleNamespace):
            out[key] = dump(value)
        else:
            out[key] = str(value) if isinstance(value, Path) else value
    return out


STAGES: Registry[Stage] = Registry("stage")


def register(cls: type[Stage]) -> type[Stage]:
    """Class decorator: register one instance of a stage under its name."""
    STAGES.add(cls.name, cls())
    return cls
