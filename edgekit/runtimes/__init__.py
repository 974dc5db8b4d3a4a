"""Runtime adapters: one module per runtime (onnxruntime, LiteRT, ExecuTorch), named by the formats table."""

from edgekit.runtimes.base import RuntimeSession, open_session, session_class

__all__ = ["RuntimeSession", "open_session", "session_class"]
