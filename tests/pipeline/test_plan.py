"""Planning: which stages a recipe lays out, how they are keyed, and what is refused before any work."""

import pytest
import torch

from edgekit.core.errors import EdgekitError
from edgekit.core.recipe import load_recipe
from edgekit.pipeline.plan import make_plan


def plan(tmp_path, **flags):
    values = {"model": "test_effnet", "data": "fashion-mnist", "img_size": 32, "formats": "onnx",
              "out": tmp_path / "run", **flags}
    return make_plan(load_recipe(None, values)[0])


def chain(tmp_path, **flags):
    return [n.stage.name for n in plan(tmp_path, **flags).chain]


def test_kd_runs_after_compression_by_default_and_finetune_without_it(tmp_path):
    assert chain(tmp_path) == ["teacher"]
    assert chain(tmp_path, prune=0.3) == ["teacher", "prune", "kd"]
    assert chain(tmp_path, prune=0.3, kd=False) == ["teacher", "prune", "finetune"]
    assert chain(tmp_path, prune=0.3, kd=False, epochs=0) == ["teacher", "prune"]
    assert chain(tmp_path, int8=True) == ["teacher", "int8"]
    assert chain(tmp_path, prune=0.3, int8=True) == ["teacher", "prune", "kd", "int8"]
    # synthetic data has no labels: no recovery stage by default (an explicit --kd is refused up front)
    assert chain(tmp_path, prune=0.3, data="synthetic") == ["teacher", "prune"]
    assert chain(tmp_path, prune=0.3, kd=False, data="synthetic") == ["teacher", "prune"]
    assert chain(tmp_path, prune=0.3, int8=True, data="synthetic") == ["teacher", "prune", "int8"]


def test_every_file_is_exported_verified_timed_and_has_a_baseline_when_compressed(tmp_path):
    nodes = [n.id for n in plan(tmp_path, prune=0.3, formats="onnx,pte").nodes]
    for fmt in ("onnx", "pte"):
        assert {f"export:{fmt}", f"verify:{fmt}", f"export:{fmt}@baseline", f"verify:{fmt}@baseline",
                f"bench:{fmt}"} <= set(nodes)
    assert nodes.index("kd") < nodes.index("export:onnx") < nodes.index("verify:onnx") < nodes.index("bench:onnx")
    uncompressed = [n.id for n in plan(tmp_path, bench=False).nodes]
    assert uncompressed == ["teacher", "evaluate", "export:onnx", "verify:onnx"]


def test_keys_depend_only_on_what_each_stage_reads(tmp_path):
    base = {n.id: n.key for n in plan(tmp_path, prune=0.3, int8=True).nodes}
    more_formats = {n.id: n.key for n in plan(tmp_path, prune=0.3, int8=True, formats="onnx,tflite").nodes}
    more_runs = {n.id: n.key for n in plan(tmp_path, prune=0.3, int8=True, runs=77).nodes}
    longer_kd = {n.id: n.key for n in plan(tmp_path, prune=0.3, int8=True, kd_temperature=4.0).nodes}
    assert all(more_formats[i] == k for i, k in base.items())  # a new format keys only its own nodes
    assert [i for i in base if more_runs[i] != base[i]] == ["bench:onnx"]
    changed = [i for i in base if longer_kd[i] != base[i]]
    assert changed[:2] == ["kd", "int8"] and "teacher" not in changed and "prune" not in changed
    assert "export:onnx@baseline" not in changed  # the FP32 teacher's files do not depend on distillation


def test_baseline_nodes_share_keys_with_an_uncompressed_run(tmp_path):
    """Adding --prune reuses the files the same teacher shipped without it: they are its baseline now."""
    plain = {n.id: n.key for n in plan(tmp_path).nodes}
    pruned = {n.id: n.key for n in plan(tmp_path, prune=0.3).nodes}
    assert pruned["export:onnx@baseline"] == plain["export:onnx"]
    assert pruned["verify:onnx@baseline"] == plain["verify:onnx"]


@pytest.mark.parametrize("flags, fragment", [
    ({"kd_temperature": 3.0}, "--kd-temperature: this option sets the recover stage, which is not in this plan"),
    ({"int8_mode": "ptq"}, "--int8-mode: this option sets the int8 stage, which is not in this plan (add --int8)"),
    ({"bench": False, "runs": 9}, "--runs: this option sets the bench stage"),
    ({"data": "synthetic", "lr": 0.1}, "--lr: this option sets the train stage"),
    ({"data": "synthetic", "epochs": 3}, "--epochs: this option sets the train stage, which is not in this plan"),
    ({"prune_ignore": "fc", "prune_steps": 2}, "--prune-ignore, --prune-steps: these options set the prune stage"),
    ({"refresh": "bnech"}, "unknown stage 'bnech'; did you mean 'bench'"),
    ({"formats": "onnx", "img_size": 30}, "multiple of 32"),
    ({"auto_augment": "rand-x"}, "auto_augment 'rand-x' is not a timm policy"),
    ({"prune": 0.3, "kd_cache_logits": True, "mixup": 0.2}, "--kd-cache-logits holds the teacher's logits of unmixed"),
    pytest.param({"train_device": "cuda"}, "--train-device cuda: torch sees no CUDA GPU",
                  marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
])
def test_bad_plans_are_refused_before_any_work(tmp_path, flags, fragment):
    with pytest.raises(EdgekitError) as caught:
        plan(tmp_path, **flags)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "run").exists()


def test_epochs_zero_turns_training_off_without_complaint(tmp_path):
    assert chain(tmp_path, data="synthetic", epochs=0, lr=0.1) == ["teacher"]


def fake_run(folder, content: bytes):
    """A run directory whose report.json lists one .onnx file with these bytes."""
    import hashlib
    import json

    from doubles import make_artifact, make_report

    folder.mkdir()
    (folder / "test_effnet.onnx").write_bytes(content)
    artifact = make_artifact(size_bytes=len(content), path="test_effnet.onnx")
    artifact["sha256"] = hashlib.sha256(content).hexdigest()
    (folder / "report.json").write_text(json.dumps(make_report([artifact])))
    return folder


def test_a_reference_run_is_an_input_of_bench_keyed_by_its_bytes(tmp_path):
    import shutil

    first, second = fake_run(tmp_path / "first", b"main's bytes"), fake_run(tmp_path / "second", b"other bytes")
    moved = shutil.copytree(first, tmp_path / "moved")
    plain = {n.id: n.key for n in plan(tmp_path).nodes}
    referenced = plan(tmp_path, reference=first)
    ids = [n.id for n in referenced.nodes]
    assert ids.index("verify:onnx") < ids.index("reference:onnx") < ids.index("bench:onnx")
    assert referenced.find("bench", "onnx").inputs["reference"].id == "reference:onnx"
    keys = {n.id: n.key for n in referenced.nodes}
    assert [i for i in keys if keys[i] != plain.get(i)] == ["reference:onnx", "bench:onnx"]
    other = {n.id: n.key for n in plan(tmp_path, reference=second).nodes}
    assert [i for i in keys if keys[i] != other[i]] == ["reference:onnx", "bench:onnx"]  # the bytes key the bench
    assert {n.id: n.key for n in plan(tmp_path, reference=moved).nodes} == keys  # the path does not


def test_the_hosts_int8_onnx_weight_pick_keys_the_int8_file_only(tmp_path, monkeypatch):
    """'--onnx-int8-weights auto' writes a different file on a host without VNNI: a cache entry is not reused there."""
    from edgekit.runtimes import onnxruntime

    keys = {}
    for picked in ("int8", "uint8"):
        monkeypatch.setattr(onnxruntime, "int8_weight_type", lambda picked=picked: picked)
        keys[picked] = {n.id: n.key for n in plan(tmp_path, prune=0.3, int8=True).nodes}
    changed = [i for i in keys["int8"] if keys["int8"][i] != keys["uint8"][i]]
    assert changed[:2] == ["export:onnx", "verify:onnx"] and not any("baseline" in i for i in changed)
