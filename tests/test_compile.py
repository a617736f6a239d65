"""Every family runs under torch.compile with fullgraph=True (no graph break) in eval and training mode.

The "eager" backend traces with dynamo exactly as inductor would but skips code generation, so the check costs
seconds; a graph break raises. Inductor itself is exercised by `tubelet benchmark --compile`.
"""
import pytest
import torch

from tests.small_models import SMALL


@pytest.mark.parametrize("family", SMALL)
def test_fullgraph_forward(family):
    build, shape = SMALL[family]
    torch.manual_seed(0)
    model = build()
    x = torch.randn(2, *shape)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager", dynamic=False)
    with torch.no_grad():
        model.eval()
        assert torch.allclose(compiled(x), model(x), rtol=1e-5, atol=1e-6)
    model.train()  # drop path / dropout paths are traced too
    compiled(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
