"""Which layers influence is computed for, and one forward+backward pass that captures what EK-FAC needs.

A linear layer's per-example weight gradient is Σ_t g_t a_tᵀ, with a_t the layer's input at token t and g_t
the gradient of the objective with respect to its output there. So every statistic in this package is built
from (a, g) pairs, captured here in one pass: a forward hook keeps each tracked layer's input and output, and
`torch.autograd.grad` asks for the gradients of those outputs only. Asking for nothing else lets autograd skip
every weight-gradient matmul, about a third of a plain backward pass.

Matrices are laid out (out, in) like `nn.Linear.weight`, also for GPT-2's `Conv1D`, which stores its weight
transposed. A layer with a bias gets a constant 1 appended to its input, so the bias is the last column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from attribution.ekfac.arguments import DEFAULT_MODULES
from attribution.errors import InputError


@dataclass(frozen=True)
class Tracked:
    """A tracked layer: its name in the model, the layer itself, and its gradient's shape (out, in)."""

    name: str
    module: nn.Module
    out_features: int
    in_features: int  # counts the bias column
    has_bias: bool

    @property
    def shape(self) -> tuple[int, int]:
        return (self.out_features, self.in_features)

    def weight_gradient(self) -> torch.Tensor:
        """The layer's accumulated `.grad` as an (out, in) matrix, bias last; used to check against autograd."""
        weight = self.module.weight.grad
        weight = weight.t() if isinstance(self.module, Conv1D) else weight
        if not self.has_bias:
            return weight
        return torch.cat([weight, self.module.bias.grad[:, None]], dim=1)


def find_modules(model: nn.Module, pattern: str = DEFAULT_MODULES) -> list[Tracked]:
    """The linear layers (`nn.Linear` or GPT-2's `Conv1D`) whose names match `pattern` (a regex, `re.search`)."""
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise InputError(f"module pattern {pattern!r} is not a valid regular expression: {error}") from error
    tracked, linear_names = [], []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            out_features, in_features = module.weight.shape
        elif isinstance(module, Conv1D):
            in_features, out_features = module.weight.shape
        else:
            continue
        linear_names.append(name)
        if regex.search(name):
            has_bias = module.bias is not None
            tracked.append(Tracked(name, module, out_features, in_features + has_bias, has_bias))
    if not tracked:
        examples = ", ".join(linear_names[:8]) or "none"
        raise InputError(
            f"module pattern {pattern!r} matches no linear layer of this {type(model).__name__}; "
            f"its linear layers include: {examples}"
        )
    return tracked


@dataclass
class Captured:
    """One batch's per-sequence objective values and, per tracked layer, inputs a (B, T, in) and output
    gradients g (B, T, out). Inputs at padded positions are zero, so sums over tokens need no mask."""

    values: torch.Tensor
    activations: dict[str, torch.Tensor]
    gradients: dict[str, torch.Tensor]


# An objective maps (logits, batch) to one value per sequence; its sum is differentiated.
Objective = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


def capture(model: nn.Module, modules: list[Tracked], batch: dict[str, torch.Tensor], objective: Objective) -> Captured:
    """Run `model` on `batch` once forward and once backward, keeping each tracked layer's inputs and output
    gradients. Sequences must not interact (true for causal LMs in eval mode), so per-sequence gradients are
    the rows of the batch gradient.

    The parameters are switched to requires_grad=False for the pass and each tracked layer's output is made
    to require a gradient instead, so autograd neither saves inputs for weight gradients nor records anything
    below the first tracked layer: less memory and less work than a training step."""
    inputs: dict[str, torch.Tensor] = {}
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if name in outputs:
                raise InputError(f"layer {name} runs twice in one forward pass; shared layers are not supported")
            if not output.requires_grad:
                output.requires_grad_()
            inputs[name], outputs[name] = args[0].detach(), output

        return hook

    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    handles = [tracked.module.register_forward_hook(keep(tracked.name)) for tracked in modules]
    try:
        for parameter in trainable:
            parameter.requires_grad_(False)
        with torch.enable_grad():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            values = objective(logits, batch)
            unused = sorted({tracked.name for tracked in modules} - set(outputs))
            if unused:
                raise InputError(f"layers {unused[:5]} do not run in the model's forward pass")
            grads = torch.autograd.grad(values.sum(), [outputs[t.name] for t in modules], allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
        for parameter in trainable:
            parameter.requires_grad_(True)
    # a layer whose output does not reach the objective gets a zero gradient, like any unused weight
    grads = [torch.zeros_like(outputs[t.name]) if grad is None else grad for t, grad in zip(modules, grads, strict=True)]

    padded = not bool(batch["attention_mask"].all())
    mask = batch["attention_mask"].unsqueeze(-1).to(torch.float32)
    activations, gradients, seen = {}, {}, {}
    for tracked, grad in zip(modules, grads, strict=True):
        raw = inputs[tracked.name]
        key = (raw.data_ptr(), raw.shape, tracked.has_bias)
        if key not in seen:  # layers reading the same input (gate_proj, up_proj) share one tensor
            a = raw.float()
            if tracked.has_bias:
                a = torch.cat([a, torch.ones_like(a[..., :1])], dim=-1)
            seen[key] = a * mask if padded else a
        activations[tracked.name] = seen[key]
        gradients[tracked.name] = grad.float()
    return Captured(values.detach(), activations, gradients)


def per_example_gradients(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Σ_t g_t a_tᵀ for each sequence of the batch: (B, out, in)."""
    return torch.bmm(gradients.transpose(1, 2), activations)
