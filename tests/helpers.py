"""Shared test helpers (imported by the test modules; pytest puts tests/ on sys.path)."""

from importlib.resources import files
from pathlib import Path

import torch

# the official oracle fixtures ship in the package (`swin-hub demo` checks them); tests read that copy
FIXTURES = Path(str(files("swin_hub") / "data"))
# test-only fixtures (Swin V2), kept out of the wheel: tests/fixtures/README.md
V2_FIXTURES = Path(__file__).parent / "fixtures"


def perturb_(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """p += 0.1 * N(0, 1) for every parameter, in named_parameters() order.

    Fresh inits leave LayerNorms at identity and biases at zero, which hides mapping mistakes.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model
