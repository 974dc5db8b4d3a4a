"""The peers' own INT8 and pruning flows, each used through its documented API as a new user would, run by
benchmarks/peers.py in a child process each (a native abort costs one row, not the run):

    python benchmarks/peers_make.py PEER CONFIG.json      # writes CONFIG's "out" file; prints one JSON line

PEER is one of PEERS. CONFIG (written by peers.py) names the FP32 checkpoint, edgekit's FP32 .onnx and .tflite
of it, the calibration images (.npy, preprocessed by edgekit's data pipeline), the training data options (for
the pruning fine-tune) and the output path. Nothing here uses edgekit's quantizers or exporters: only its data
loading and checkpoint reader, so every peer starts from the very same FP32 model and images.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np


def ort_quantize_static(cfg: dict, calib: np.ndarray, u8: bool = False) -> dict:
    """onnxruntime: quant_pre_process, then quantize_static (QDQ, per-channel; the documented defaults otherwise;
    `u8`: uint8 activations, which onnxruntime's quantization docs recommend on x86 with AVX2/AVX-512)."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = Path(cfg["out"]).with_suffix(".pre.onnx")
    quant_pre_process(cfg["fp32_onnx"], str(pre))
    inp = ort.InferenceSession(str(pre), providers=["CPUExecutionProvider"]).get_inputs()[0]
    batch = inp.shape[0] if isinstance(inp.shape[0], int) else len(calib)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{inp.name: calib[i:i + batch]} for i in range(0, len(calib), batch)])

        def get_next(self):
            return next(self.items, None)

    extra = {"activation_type": QuantType.QUInt8} if u8 else {}
    quantize_static(str(pre), cfg["out"], Reader(), quant_format=QuantFormat.QDQ, per_channel=True, **extra)
    pre.unlink(missing_ok=True)
    return {"settings": "quant_pre_process; quantize_static(quant_format=QDQ, per_channel=True"
                        f"{', activation_type=QUInt8' if u8 else ''}), defaults otherwise"}


def nncf_quantize_onnx(cfg: dict, calib: np.ndarray) -> dict:
    """NNCF: nncf.quantize on the FP32 ONNX model (its defaults; subset_size = the calibration images)."""
    import nncf
    import onnx
    import onnxruntime as ort

    model = onnx.load(cfg["fp32_onnx"])
    inp = ort.InferenceSession(cfg["fp32_onnx"], providers=["CPUExecutionProvider"]).get_inputs()[0]
    batch = inp.shape[0] if isinstance(inp.shape[0], int) else 1
    items = [calib[i:i + batch] for i in range(0, len(calib), batch)]
    quantized = nncf.quantize(model, nncf.Dataset(items, lambda x: {inp.name: x}), subset_size=len(items))
    onnx.save(quantized, cfg["out"])
    return {"settings": f"nncf.quantize(onnx model, nncf.Dataset, subset_size={len(items)}), defaults otherwise"}


def aeq_static_int8(cfg: dict, calib: np.ndarray) -> dict:
    """ai-edge-quantizer: recipe.static_wi8_ai8() (int8 weights and activations), calibrated, on the FP32 .tflite."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    interpreter = Interpreter(model_path=cfg["fp32_tflite"])
    signatures = interpreter.get_signature_list()
    key = next(iter(signatures))
    name = signatures[key]["inputs"][0]
    batch = int(interpreter.get_input_details()[0]["shape"][0])
    qt = quantizer.Quantizer(cfg["fp32_tflite"])
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    data = [{name: calib[i:i + batch]} for i in range(0, len(calib), batch)]
    result = qt.calibrate({key: data}, num_threads=1)
    qt.quantize(result).export_model(cfg["out"], overwrite=True)
    return {"settings": f"Quantizer + recipe.static_wi8_ai8(), calibrate on signature '{key}'"}


def executorch_xnnpack(cfg: dict, calib: np.ndarray) -> dict:
    """ExecuTorch's XNNPACK PT2E flow: export -> prepare_pt2e(XNNPACKQuantizer symmetric per-channel) -> calibrate
    -> convert_pt2e -> export -> to_edge_transform_and_lower(XnnpackPartitioner) -> .pte."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from executorch.exir import to_edge_transform_and_lower
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from edgekit.models.checkpoint import load_checkpoint

    model, _ = load_checkpoint(Path(cfg["checkpoint"]))
    example = (torch.from_numpy(calib[:1]),)
    captured = torch.export.export(model.eval(), example).module()
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(captured, quantizer)
    with torch.no_grad():
        for i in range(len(calib)):
            prepared(torch.from_numpy(calib[i:i + 1]))
    converted = convert_pt2e(prepared)
    program = to_edge_transform_and_lower(torch.export.export(converted, example),
                                          partitioner=[XnnpackPartitioner()]).to_executorch()
    Path(cfg["out"]).write_bytes(program.buffer)
    return {"settings": "XNNPACKQuantizer(get_symmetric_quantization_config(is_per_channel=True)), batch 1"}


def torch_pruning_finetune(cfg: dict, calib: np.ndarray) -> dict:
    """Torch-Pruning as its README shows: MetaPruner + magnitude (L2) importance, the same ratio, no channel
    rounding, classifier ignored; then a plain cross-entropy fine-tune (SGD, cosine) as long as edgekit's
    recovery; FP32 ONNX through torch.onnx.export."""
    import torch
    import torch_pruning as tp
    from torch.utils.data import DataLoader

    from edgekit.data.augment import AugmentPolicy
    from edgekit.data.batches import set_policy
    from edgekit.data.sources import load_data, training_defaults
    from edgekit.models.build import preprocessing
    from edgekit.models.checkpoint import load_checkpoint

    torch.manual_seed(cfg["seed"])
    model, description = load_checkpoint(Path(cfg["checkpoint"]))
    example = torch.from_numpy(calib[:1])
    macs0, params0 = tp.utils.count_ops_and_params(model, example)
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else None
    pruner = tp.pruner.MetaPruner(model, example, importance=tp.importance.MagnitudeImportance(p=2),
                                  pruning_ratio=cfg["ratio"], ignored_layers=[classifier] if classifier else [])
    pruner.step()
    macs, params = tp.utils.count_ops_and_params(model, example)
    data = load_data(cfg["data"], description.img_size, preprocessing(model), cfg["subset"], cfg["seed"])
    # the augmentation edgekit's own training uses on this data (e.g. no crop for Fashion-MNIST), so the row
    # isolates pruning + plain fine-tune from edgekit's pruning + distillation
    crop = training_defaults(cfg["data"]).get("crop", AugmentPolicy.crop)
    set_policy(data.train, AugmentPolicy(crop=crop, flip=True))
    loader = DataLoader(data.train, batch_size=cfg["batch_size"], shuffle=True,
                        generator=torch.Generator().manual_seed(cfg["seed"]))
    steps = max(1, math.ceil(cfg["epochs"] * len(loader)))
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9, weight_decay=5e-5)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    model.train()
    done, started = 0, time.perf_counter()
    while done < steps:
        for images, labels in loader:
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            done += 1
            if done % 20 == 0 or done == steps:
                print(f"  torch-pruning fine-tune {done}/{steps} loss {loss.item():.3f}", file=sys.stderr, flush=True)
            if done >= steps:
                break
    model.eval()
    train_s = time.perf_counter() - started
    torch.onnx.export(model, (example,), cfg["out"], input_names=["input"], output_names=["logits"], external_data=False)
    return {"settings": f"MetaPruner(MagnitudeImportance(p=2), pruning_ratio={cfg['ratio']}, round_to=None); "
                        f"SGD lr {cfg['lr']} momentum 0.9 cosine, cross-entropy, {cfg['epochs']} epoch(s), "
                        f"batch {cfg['batch_size']}, augmentation crop={crop} + flip; torch.onnx.export(external_data=False), defaults otherwise",
            "macs": int(macs), "params": int(params), "macs_before": int(macs0), "params_before": int(params0),
            "train_seconds": round(train_s, 1)}


PEERS = {"ort": ort_quantize_static, "ort-u8": lambda cfg, calib: ort_quantize_static(cfg, calib, u8=True),
         "nncf": nncf_quantize_onnx, "aeq": aeq_static_int8,
         "executorch": executorch_xnnpack, "torch-pruning": torch_pruning_finetune}


def main() -> None:
    peer, config = sys.argv[1], Path(sys.argv[2])
    cfg = json.loads(config.read_text())
    calib = np.load(cfg["calib"])
    started = time.perf_counter()
    extra = PEERS[peer](cfg, calib)
    print("PEER_RESULT " + json.dumps({"seconds": round(time.perf_counter() - started, 1), **extra}), flush=True)


if __name__ == "__main__":
    main()
