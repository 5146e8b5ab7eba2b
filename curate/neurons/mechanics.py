"""Neuron-activation lens (Rai & Yao 2024, arXiv 2406.12288): which MLP neurons stand for arithmetic concepts,
how strongly they fire on a text, and what happens to the probes when they are corrupted.

An MLP layer writes out = Σ_i m_i v_i into the residual stream: neuron i's activation m_i (SwiGLU:
SiLU(W_gate x)_i · (W_up x)_i; GPT-2: GELU(W_fc x)_i) times its value vector v_i, column i of the down
projection. Both meet at the down projection's input, so one forward pre-hook per layer records m and one
edits it; nothing else about the architecture matters. A neuron's contribution at a token is |m_i|·‖v_i‖.

A neuron is labelled with a concept when at least `min_overlap` distinct words of that concept's list are
among the top tokens of its value vector's vocabulary projection (unembedding × v_i, optionally through the
final norm's weight). `chance_counts` labels the same top-token lists against a shuffled vocabulary: the
count to beat.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl
import torch
from scipy import stats

from attribution.task import collate, encode_document
from curate.errors import InputError
from curate.probes.evaluate import completion_nll, greedy_complete, is_correct
from curate.probes.sets import Probe

# Words (and symbols) standing for each concept. Vocabulary entries are matched after decoding, stripping
# whitespace (byte-level BPE's "Ġ" space marker) and lowercasing. "is" is left out of "equals": it is in
# almost every sentence, so it would label neurons that have nothing to do with equations.
CONCEPTS: dict[str, tuple[str, ...]] = {
    "addition": (
        "+",
        "add",
        "adds",
        "added",
        "adding",
        "addition",
        "plus",
        "sum",
        "sums",
        "total",
        "increase",
        "increased",
        "more",
    ),
    "subtraction": (
        "-",
        "−",
        "subtract",
        "subtracts",
        "subtracted",
        "subtracting",
        "subtraction",
        "minus",
        "difference",
        "less",
        "decrease",
        "decreased",
        "remove",
        "take",
    ),
    "multiplication": (
        "*",
        "×",
        "·",
        "multiply",
        "multiplies",
        "multiplied",
        "multiplying",
        "multiplication",
        "times",
        "product",
        "twice",
        "double",
    ),
    "division": (
        "/",
        "÷",
        "divide",
        "divides",
        "divided",
        "dividing",
        "division",
        "quotient",
        "ratio",
        "per",
        "half",
        "over",
    ),
    "equals": ("=", "equal", "equals", "equaled", "gives", "give", "yields", "result", "results", "makes"),
    "connectives": (
        "so",
        "therefore",
        "then",
        "thus",
        "hence",
        "because",
        "since",
        "first",
        "next",
        "finally",
        "now",
        "step",
    ),
    "formula": (
        "formula",
        "equation",
        "equations",
        "solve",
        "solving",
        "variable",
        "coefficient",
        "compute",
        "calculate",
        "expression",
        "slope",
        "rule",
        "function",
        "value",
    ),
}


# --- where the neurons are ---------------------------------------------------------------------------------


@dataclass
class MLPLayer:
    """One MLP: its index among the model's MLPs and its down projection (whose input is the activations)."""

    layer: int
    name: str
    down: torch.nn.Module

    @property
    def values(self) -> torch.Tensor:
        """Value vectors as rows, (n_neurons, hidden). nn.Linear stores (out, in); GPT-2's Conv1D (in, out)."""
        weight = self.down.weight.detach()
        return weight.T if isinstance(self.down, torch.nn.Linear) else weight

    @property
    def n_neurons(self) -> int:
        return self.values.shape[0]


def mlp_layers(model: torch.nn.Module) -> list[MLPLayer]:
    """The MLP layers of a SwiGLU (Llama-style: gate_proj, up_proj, down_proj) or GPT-2 (c_fc, c_proj) model."""
    layers = []
    for name, module in model.named_modules():
        if all(hasattr(module, p) for p in ("gate_proj", "up_proj", "down_proj")):
            layers.append(MLPLayer(len(layers), f"{name}.down_proj", module.down_proj))
        elif hasattr(module, "c_fc") and hasattr(module, "c_proj"):
            layers.append(MLPLayer(len(layers), f"{name}.c_proj", module.c_proj))
    if not layers:
        raise InputError(
            f"{type(model).__name__}: no SwiGLU (gate/up/down_proj) or GPT-2 (c_fc/c_proj) MLP layers found"
        )
    return layers


def final_norm_weight(model: torch.nn.Module) -> torch.Tensor | None:
    """The weight of the norm applied before the unembedding (Llama `norm`, GPT-2 `ln_f`), if there is one."""
    base = model.base_model
    for name in ("norm", "ln_f", "final_layer_norm"):
        norm = getattr(base, name, None)
        if norm is not None and getattr(norm, "weight", None) is not None:
            return norm.weight.detach()
    return None


# --- value vectors in the vocabulary ----------------------------------------------------------------------


@torch.no_grad()
def top_tokens(
    model: torch.nn.Module, layers: list[MLPLayer], k: int = 20, through_norm: bool = True, chunk: int = 1024
) -> list[torch.Tensor]:
    """Per layer, (n_neurons, k) ids of the tokens whose logits each value vector raises most."""
    unembedding = model.get_output_embeddings().weight.detach().float()  # (vocab, hidden)
    scale = final_norm_weight(model) if through_norm else None
    result = []
    for layer in layers:
        values = layer.values.float()
        if scale is not None:
            values = values * scale.float()
        # Chunks of neurons keep the (neurons, vocab) logit block small for large vocabularies.
        ids = [(block @ unembedding.T).topk(k, dim=1).indices for block in values.split(chunk)]
        result.append(torch.cat(ids))
    return result


def token_words(tokenizer) -> list[str]:
    """Every vocabulary entry as the word it spells: decoded (so byte-level BPE's 'Ġ' and byte codes become
    text), stripped of whitespace, lowercased."""
    return [tokenizer.decode([i]).strip().lower() for i in range(len(tokenizer))]


def label_neurons(
    top_ids: list[torch.Tensor],
    words: list[str],
    concepts: dict[str, tuple[str, ...]] = CONCEPTS,
    min_overlap: int = 3,
) -> pl.DataFrame:
    """One row per (neuron, concept) with at least `min_overlap` distinct words of the concept's list among the
    neuron's top tokens ("so" and " so" count once): layer, neuron, concept, overlap, top_tokens (best first)."""
    vocabularies = {concept: set(vocabulary) for concept, vocabulary in concepts.items()}
    rows = []
    for layer, ids in enumerate(top_ids):
        for neuron, row in enumerate(ids.tolist()):
            tokens = [words[t] for t in row]
            for concept, vocabulary in vocabularies.items():
                overlap = len(vocabulary.intersection(tokens))
                if overlap >= min_overlap:
                    rows.append(
                        {
                            "layer": layer,
                            "neuron": neuron,
                            "concept": concept,
                            "overlap": overlap,
                            "top_tokens": " ".join(repr(t) for t in tokens),
                        }
                    )
    schema = {
        "layer": pl.Int64,
        "neuron": pl.Int64,
        "concept": pl.String,
        "overlap": pl.Int64,
        "top_tokens": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).sort("concept", "layer", "neuron")


def chance_counts(
    top_ids: list[torch.Tensor],
    words: list[str],
    concepts: dict[str, tuple[str, ...]] = CONCEPTS,
    min_overlap: int = 3,
    permutations: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Mean number of neurons labelled per concept when the vocabulary's words are shuffled: how many labels a
    model whose value vectors know nothing of the concepts would get."""
    rng = random.Random(seed)
    totals = dict.fromkeys(concepts, 0)
    for _ in range(permutations):
        shuffled = list(words)
        rng.shuffle(shuffled)
        labels = label_neurons(top_ids, shuffled, concepts, min_overlap)
        for concept, count in labels.group_by("concept").len().iter_rows():
            totals[concept] += count
    return {concept: total / permutations for concept, total in totals.items()}


def concept_neurons(labels: pl.DataFrame, concept: str | None = None) -> dict[int, torch.Tensor]:
    """{layer: neuron indices} of the neurons labelled `concept` (any concept when None)."""
    if concept is not None:
        labels = labels.filter(pl.col("concept") == concept)
    by_layer: dict[int, list[int]] = {}
    for layer, neuron in labels.select("layer", "neuron").unique().sort("layer", "neuron").iter_rows():
        by_layer.setdefault(layer, []).append(neuron)
    return {layer: torch.tensor(neurons) for layer, neurons in by_layer.items()}


# --- reading and editing activations ---------------------------------------------------------------------


@contextmanager
def recording(layers: list[MLPLayer]) -> Iterator[dict[int, torch.Tensor]]:
    """Within the block, every forward pass leaves each layer's activations (batch, seq, n_neurons) in the
    yielded dict, replacing the previous pass's."""
    captured: dict[int, torch.Tensor] = {}

    def hook(layer: int):
        def record(module, args):
            captured[layer] = args[0].detach()

        return record

    handles = [layer.down.register_forward_pre_hook(hook(layer.layer)) for layer in layers]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def ablating(
    layers: list[MLPLayer], neurons: dict[int, torch.Tensor], noise: dict[int, torch.Tensor] | None = None
) -> Iterator[None]:
    """Within the block, the listed neurons are zeroed or, with `noise`, have the fixed vector noise[layer]
    added at every token. The hook edits a copy of each call's activations, never the weights, so the
    corruption is the same on every forward pass and never compounds."""

    def hook(layer: int):
        index = neurons[layer]

        def edit(module, args):
            m = args[0].clone()
            if noise is None:
                m[..., index] = 0
            else:
                m[..., index] += noise[layer].to(m.dtype)
            return (m, *args[1:])

        return edit

    by_index = {layer.layer: layer for layer in layers}
    handles = [
        by_index[layer].down.register_forward_pre_hook(hook(layer))
        for layer, index in neurons.items()
        if len(index)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def contributions(
    model: torch.nn.Module,
    tokenizer,
    texts: list[str],
    layers: list[MLPLayer],
    neuron_sets: dict[str, dict[int, torch.Tensor]],
    batch_size: int = 8,
    max_length: int = 512,
) -> dict[str, list[float]]:
    """Per neuron set and text: the mean contribution |m_i|·‖v_i‖ of the set's neurons over the text's tokens
    (BOS excluded: its activations are large on every text and say nothing about it)."""
    device = next(model.parameters()).device
    model.eval()
    norms = {layer.layer: layer.values.float().norm(dim=1).to(device) for layer in layers}
    sizes = {name: sum(len(i) for i in neurons.values()) for name, neurons in neuron_sets.items()}
    result: dict[str, list[float]] = {name: [] for name in neuron_sets}
    pad = tokenizer.pad_token_id or 0
    with recording(layers) as activations:
        for start in range(0, len(texts), batch_size):
            encoded = [encode_document(tokenizer, t, max_length) for t in texts[start : start + batch_size]]
            batch = {k: v.to(device) for k, v in collate(encoded, pad).items()}
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            mask = batch["attention_mask"].float()
            if tokenizer.bos_token_id is not None:
                mask[:, 0] = 0
            tokens = mask.sum(dim=1).clamp(min=1)
            for name, neurons in neuron_sets.items():
                total = torch.zeros_like(mask)
                for layer, index in neurons.items():
                    m = activations[layer][..., index.to(device)].float().abs()
                    total += (m * norms[layer][index.to(device)]).sum(dim=-1)
                mean = (total * mask).sum(dim=1) / tokens / max(sizes[name], 1)
                result[name] += mean.tolist()
    return result


@torch.no_grad()
def activation_rms(
    model: torch.nn.Module, tokenizer, texts: list[str], layers: list[MLPLayer], batch_size: int = 8
) -> dict[int, torch.Tensor]:
    """Per layer, each neuron's root-mean-square activation over the texts' tokens (the scale of its noise)."""
    device = next(model.parameters()).device
    model.eval()
    sums = {layer.layer: torch.zeros(layer.n_neurons) for layer in layers}
    count = 0.0
    with recording(layers) as activations:
        for start in range(0, len(texts), batch_size):
            encoded = [encode_document(tokenizer, t) for t in texts[start : start + batch_size]]
            batch = {k: v.to(device) for k, v in collate(encoded, tokenizer.pad_token_id or 0).items()}
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            mask = batch["attention_mask"].float().unsqueeze(-1)
            count += float(mask.sum())
            for layer in sums:
                sums[layer] += (activations[layer].float().pow(2) * mask).sum(dim=(0, 1)).cpu()
    return {layer: (total / max(count, 1.0)).sqrt() for layer, total in sums.items()}


# --- documents: the neuron scorer against EK-FAC and the ground truth -------------------------------------


def top_k(frame: pl.DataFrame, column: str, k: int) -> set[str]:
    return set(frame.sort(column, descending=True, maintain_order=True)["doc_id"].head(k).to_list())


def f1_at_k(frame: pl.DataFrame, column: str, truth: str, k: int) -> float:
    """F1 of the top k by `column` taken as predicted positives, against the boolean column `truth`."""
    positives = set(frame.filter(pl.col(truth))["doc_id"].to_list())
    hits = len(top_k(frame, column, k) & positives)
    return 2 * hits / (k + len(positives)) if k + len(positives) else float("nan")


def against_truth(
    frame: pl.DataFrame, columns: list[str], truth: str, k: int | None = None
) -> dict[str, float]:
    """Each score column's F1 at k against the boolean column `truth`, and a random ranking's expected F1.
    k defaults to the number of true positives, where precision = recall = F1."""
    n, positives = frame.height, int(frame[truth].sum())
    k = k or positives or max(1, n // 100)
    result: dict[str, float] = {"k": k, "true_positives": positives}
    result |= {f"f1_{column}": f1_at_k(frame, column, truth, k) for column in columns}
    result["f1_random_expected"] = 2 * k * positives / (n * (k + positives)) if n else float("nan")
    return result


def compare_rankings(
    frame: pl.DataFrame, first: str, second: str, truth: str | None = None, k: int | None = None
) -> dict[str, float]:
    """Agreement of two document scores (columns of `frame`, with doc_id): overlap of their top k, Spearman
    correlation, and, given a ground-truth column, `against_truth`. k defaults to the number of true
    positives, else to 1% of the documents."""
    n = frame.height
    k = k or (int(frame[truth].sum()) if truth is not None else 0) or max(1, n // 100)
    rho, p_value = stats.spearmanr(frame[first].to_numpy(), frame[second].to_numpy())
    result = {
        "documents": n,
        "k": k,
        "top_k_overlap": len(top_k(frame, first, k) & top_k(frame, second, k)) / k,
        "spearman": float(rho),
        "spearman_p": float(p_value),
    }
    if truth is not None:
        result |= against_truth(frame, [first, second], truth, k)
    return result


# --- ablation ------------------------------------------------------------------------------------------------


@dataclass
class AblationArguments:
    """Settings without defaults: those of `curate study neurons` live in `curate.neurons.NeuronArguments`."""

    mode: str  # "zero", or "noise": add fixed Gaussian noise of `noise_scale` × the neuron's RMS
    noise_scale: float
    seeds: list[int]
    accuracy: bool  # greedy accuracy as well as loss
    max_new_tokens: int = 96


def random_neurons(
    layers: list[MLPLayer], like: dict[int, torch.Tensor], seed: int
) -> dict[int, torch.Tensor]:
    """As many neurons per layer as `like` has there, drawn from that layer's other neurons."""
    generator = torch.Generator().manual_seed(seed)
    chosen = {}
    for layer, index in like.items():
        others = torch.ones(layers[layer].n_neurons, dtype=torch.bool)
        others[index] = False
        pool = others.nonzero().flatten()
        if len(pool) < len(index):
            raise InputError(f"layer {layer}: too few non-concept neurons for a random control")
        chosen[layer] = pool[torch.randperm(len(pool), generator=generator)[: len(index)]].sort().values
    return chosen


def fixed_noise(
    neurons: dict[int, torch.Tensor], rms: dict[int, torch.Tensor], scale: float, seed: int
) -> dict[int, torch.Tensor]:
    """One Gaussian draw per neuron, scaled by its RMS activation so concept and random neurons are corrupted
    in proportion to their own size."""
    generator = torch.Generator().manual_seed(seed)
    return {
        layer: scale * rms[layer][index] * torch.randn(len(index), generator=generator)
        for layer, index in neurons.items()
    }


def probe_metrics(model, tokenizer, probes: list[Probe], accuracy: bool, max_new_tokens: int) -> pl.DataFrame:
    """Per probe kind: completion loss (nats per token, token-weighted) and greedy accuracy (NaN if skipped)."""
    nll = completion_nll(model, tokenizer, probes)
    if accuracy:
        completions = greedy_complete(model, tokenizer, [p.prompt for p in probes], max_new_tokens)
        correct = [float(is_correct(c, p.answer)) for p, c in zip(probes, completions, strict=True)]
    else:
        correct = [math.nan] * len(probes)
    frame = pl.DataFrame(
        {
            "kind": [p.kind for p in probes],
            "nats": [n for n, _ in nll],
            "tokens": [t for _, t in nll],
            "correct": correct,
        }
    )
    return frame.group_by("kind", maintain_order=True).agg(
        (pl.col("nats").sum() / pl.col("tokens").sum()).alias("loss_per_token"),
        pl.col("correct").mean().alias("accuracy"),
    )


def run_ablation(
    model: torch.nn.Module,
    tokenizer,
    probes: list[Probe],
    layers: list[MLPLayer],
    neurons: dict[int, torch.Tensor],
    arguments: AblationArguments,
) -> pl.DataFrame:
    """Probe loss and accuracy with the concept neurons corrupted vs as many random neurons of the same layers,
    as changes from the intact model: one row per (arm, seed, kind). Zeroing the concept neurons involves no
    randomness, so that arm runs once; every other arm runs once per seed."""
    if arguments.mode not in ("zero", "noise"):
        raise InputError(f"unknown ablation {arguments.mode!r}; choose zero or noise")
    if not any(len(i) for i in neurons.values()):
        raise InputError("no concept neurons to ablate; lower --min-overlap or raise --top-tokens")

    def measure(corrupted: dict[int, torch.Tensor] | None, noise=None) -> pl.DataFrame:
        if corrupted is None:
            return probe_metrics(model, tokenizer, probes, arguments.accuracy, arguments.max_new_tokens)
        with ablating(layers, corrupted, noise):
            return probe_metrics(model, tokenizer, probes, arguments.accuracy, arguments.max_new_tokens)

    intact = measure(None).rename({"loss_per_token": "intact_loss", "accuracy": "intact_accuracy"})
    rms = (
        activation_rms(model, tokenizer, [p.text for p in probes], layers)
        if arguments.mode == "noise"
        else {}
    )
    frames = []
    for i, seed in enumerate(arguments.seeds):
        arms = {"random": random_neurons(layers, neurons, seed)}
        if arguments.mode == "noise" or i == 0:
            arms = {"concept": neurons, **arms}
        for offset, (arm, chosen) in enumerate(arms.items()):
            noise = (
                fixed_noise(chosen, rms, arguments.noise_scale, seed * 2 + offset)
                if arguments.mode == "noise"
                else None
            )
            frames.append(measure(chosen, noise).with_columns(arm=pl.lit(arm), seed=pl.lit(seed)))
    return (
        pl.concat(frames)
        .join(intact, on="kind")
        .with_columns(
            delta_loss=pl.col("loss_per_token") - pl.col("intact_loss"),
            delta_accuracy=pl.col("accuracy") - pl.col("intact_accuracy"),
            neurons=pl.lit(sum(len(i) for i in neurons.values())),
        )
        .select(
            "arm",
            "seed",
            "kind",
            "neurons",
            "intact_loss",
            "loss_per_token",
            "delta_loss",
            "intact_accuracy",
            "accuracy",
            "delta_accuracy",
        )
    )
