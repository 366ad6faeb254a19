import os

import pytest

# Tests run offline on CPU, with tiny models built locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _seed():
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(0)
