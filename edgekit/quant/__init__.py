"""INT8 quantization: one PT2E-quantized model deployed to every format (issue #5)."""

import logging

# torchao registers an Enum with torch's pytree on import, and torch logs a deprecation warning for it
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
