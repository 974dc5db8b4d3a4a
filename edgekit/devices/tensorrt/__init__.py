"""TensorRT: trtexec output parsing, engine build/timing argv per TensorRT version, through a runner."""

from edgekit.devices.tensorrt.engine import (
    EngineBuild,
    EngineTiming,
    build_argv,
    build_engine,
    latency_fields,
    onnx_kind,
    parse_version_text,
    strongly_typed,
    tensorrt_version,
    time_engine,
    timing_argv,
)
from edgekit.devices.tensorrt.runner import Runner, local_runner
from edgekit.devices.tensorrt.trtexec import (
    ExportTimes,
    ParseError,
    Stats,
    TrtexecResult,
    decode_version,
    parse_export_times,
    parse_trtexec,
)

__all__ = [
    "EngineBuild", "EngineTiming", "ExportTimes", "ParseError", "Runner", "Stats", "TrtexecResult",
    "build_argv", "build_engine", "decode_version", "latency_fields", "local_runner", "onnx_kind",
    "parse_export_times", "parse_trtexec", "parse_version_text", "strongly_typed", "tensorrt_version",
    "time_engine", "timing_argv",
]
