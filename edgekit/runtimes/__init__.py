"""Runtime adapters: one module per runtime (onnxruntime, LiteRT, ExecuTorch)."""

from edgekit.runtimes.base import RUNTIMES, RuntimeSession, open_session

__all__ = ["RUNTIMES", "RuntimeSession", "open_session"]
