import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture
def tiny_texts() -> list[str]:
    """A small corpus with structure a tiny LM can learn within a few dozen steps."""
    lines = []
    for i in range(300):
        a, b = i % 17 + 3, i % 11 + 2
        lines.append(f"Step 1: add {a} and {b}. {a} + {b} = {a + b}. The answer is {a + b}.")
    return lines
