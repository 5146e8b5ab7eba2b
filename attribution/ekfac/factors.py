"""Fitting EK-FAC factors: the curvature model that preconditions query gradients.

Per tracked layer (Grosse et al. 2023, §2.2; George et al. 2018):
  1. token-level covariances A = E[a aᵀ] of layer inputs and S = E[g gᵀ] of output gradients, where g comes
     from labels sampled from the model (true Fisher, default) or the data's own tokens (empirical Fisher);
  2. their eigenbases Q_A, Q_S, computed in float64;
  3. corrected eigenvalues Λ = E_docs[(Q_Sᵀ G Q_A)²] over per-document gradients G = Σ_t g_t a_tᵀ, which
     replace the Kronecker product of A's and S's eigenvalues by the variance the data actually shows.
Step 3 needs step 2's eigenbases, hence two passes over the documents.

Both passes produce `Statistics`: float64 sums and counts that add, so shards of a corpus can be fitted
separately (one datatrove task each) and merged into exactly what one pass would give.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from attribution.ekfac.arguments import FactorArguments
from attribution.ekfac.checksum import sealed_header, unsealed, verify
from attribution.ekfac.data import (
    Skipped,
    document_batches,
    sample_labels,
    to_batch,
)
from attribution.ekfac.modules import Tracked, capture, find_modules, per_example_gradients
from attribution.errors import InputError
from attribution.io import write_atomic
from attribution.progress import progress_bar
from attribution.task import summed_log_prob

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: the model fingerprint hashes every weight and the architecture config
FACTORS_FILE = "factors.safetensors"
DAMPING_RULE = "lambda = damping_scale * mean(corrected eigenvalues), per layer (damping_scale 0.1 by default)"


# Config entries that say where a model came from or how it is run, not what it computes.
NOT_ARCHITECTURE = ("_name_or_path", "transformers_version", "dtype", "torch_dtype", "use_cache", "return_dict",
                    "output_attentions", "output_hidden_states")


def model_fingerprint(model: nn.Module) -> str:
    """A hash of the architecture (class and config) and of every parameter's name, shape, dtype and bytes, so
    that factors fitted on other weights, the tracked layers' included, are refused. Every byte is hashed rather
    than a sample: it costs little next to fitting or scoring, and misses no change (see docs/performance.md)."""
    digest = hashlib.sha256(type(model).__name__.encode())
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        architecture = {k: v for k, v in config.to_dict().items() if k not in NOT_ARCHITECTURE}
        digest.update(json.dumps(architecture, sort_keys=True, default=str).encode())
    for name, parameter in model.named_parameters():
        digest.update(f"{name}:{tuple(parameter.shape)}:{parameter.dtype};".encode())
        digest.update(parameter.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:32]


# ---------------------------------------------------------------------------------------------------------
# Mergeable statistics


@dataclass
class Statistics:
    """Sums over documents from one pass ("covariance" or "lambda"); shards' statistics merge with `+`."""

    kind: str
    sums: dict[str, torch.Tensor]  # "<layer>/activation", "<layer>/gradient" or "<layer>/lambda", float64
    tokens: int = 0
    documents: int = 0
    header: dict = field(default_factory=dict)  # what must agree between shards: model, layers, fisher, ...
    skipped: Skipped = field(default_factory=Skipped)

    def __add__(self, other: Statistics) -> Statistics:
        if (self.kind, self.header) != (other.kind, other.header):
            raise InputError(
                f"cannot merge {other.kind} statistics fitted with {other.header} "
                f"into {self.kind} statistics fitted with {self.header}"
            )
        sums = {key: value + other.sums[key] for key, value in self.sums.items()}
        return Statistics(self.kind, sums, self.tokens + other.tokens, self.documents + other.documents, self.header,
                          self.skipped + other.skipped)

    def save(self, path: Path) -> None:
        meta = {"kind": self.kind, "tokens": self.tokens, "documents": self.documents, "header": self.header,
                "skipped": asdict(self.skipped)}
        save_tensors(self.sums, path, meta)

    @classmethod
    def load(cls, path: Path) -> Statistics:
        sums, meta = load_tensors(path)
        return cls(meta["kind"], sums, meta["tokens"], meta["documents"], meta["header"], Skipped(**meta["skipped"]))


def merge(statistics: Iterable[Statistics]) -> Statistics:
    total = None
    for part in statistics:
        total = part if total is None else total + part
    if total is None:
        raise InputError("no statistics to merge")
    return total


# ---------------------------------------------------------------------------------------------------------
# The two passes


Documents = Iterable | Callable[[], Iterable]


def _passes(documents: Documents) -> Callable[[], Iterable]:
    """Fitting reads the documents twice: accept a re-iterable collection or a function that opens them."""
    if callable(documents):
        return documents
    if iter(documents) is documents:
        raise InputError("fitting reads the documents twice: pass a list or a function returning an iterable")
    return lambda: documents


def _training_loss(args: FactorArguments) -> Callable:
    def loss(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        labels = batch["labels"] if args.fisher == "empirical" else sample_labels(logits, batch, args.seed)
        return -summed_log_prob(logits, labels)

    return loss


def _stream(model, modules, tokenizer, documents, args: FactorArguments, skipped: Skipped, description: str):
    """Captured (a, g) for each batch of documents, with a progress bar counting documents."""
    device = next(model.parameters()).device
    pad_id = getattr(tokenizer, "pad_token_id", None) or 0
    loss = _training_loss(args)
    if args.max_documents is not None:
        documents = islice(documents, args.max_documents)
    with progress_bar(desc=description, unit="doc", disable=not args.progress, total=args.max_documents) as bar:
        for _, ids, items in document_batches(documents, tokenizer, args.batch_size, args.max_length, skipped):
            batch = to_batch(items, pad_id, device)
            yield ids, batch, capture(model, modules, batch, loss)
            bar.update(len(items))


def _header(model: nn.Module, modules: list[Tracked], args: FactorArguments) -> dict:
    return {
        "fingerprint": model_fingerprint(model),
        "modules": {tracked.name: list(tracked.shape) for tracked in modules},
        "fisher": args.fisher,
        "module_pattern": args.modules,
    }


def _check_finite(sums: dict[str, torch.Tensor], ids: list[str]) -> None:
    for key, value in sums.items():
        if not torch.isfinite(value).all():
            raise InputError(
                f"non-finite values (NaN or inf) in the statistics of {key} from documents {ids[:5]}...; "
                "the model's outputs overflow on them (check its weights and dtype)"
            )


def _accumulate(model, modules, tokenizer, documents, args, skipped, description, batch_statistics,
                sums) -> tuple[int, int]:
    """Add `batch_statistics(captured)` of every batch to `sums` (in place, moved to the CPU at the end); returns the
    tokens and documents counted. One loop for both passes."""
    tokens = documents_seen = 0
    for ids, batch, captured in _stream(model, modules, tokenizer, documents, args, skipped, description):
        batch_sums = batch_statistics(captured)
        _check_finite(batch_sums, ids)
        for key, value in batch_sums.items():
            sums[key] += value
        tokens += int(batch["attention_mask"].sum())
        documents_seen += batch["input_ids"].size(0)
    for key, value in sums.items():
        sums[key] = value.cpu()
    return tokens, documents_seen


@torch.no_grad()
def fit_covariances(model: nn.Module, tokenizer, documents: Iterable, args: FactorArguments) -> Statistics:
    """First pass: sums of a aᵀ and g gᵀ over every counted token."""
    modules = find_modules(model, args.modules)
    model.eval()
    device = next(model.parameters()).device
    skipped = Skipped()
    sums = {}  # float64, so that millions of tokens add up without rounding drift; each batch's matmul is float32
    for tracked in modules:
        for which, size in (("activation", tracked.in_features), ("gradient", tracked.out_features)):
            sums[f"{tracked.name}/{which}"] = torch.zeros(size, size, dtype=torch.float64, device=device)

    def batch_statistics(captured) -> dict[str, torch.Tensor]:
        update = {}
        shared = {}  # gate_proj and up_proj read the same input: compute its covariance once
        for tracked in modules:
            a = captured.activations[tracked.name].flatten(0, 1)
            g = captured.gradients[tracked.name].flatten(0, 1)
            key = captured.activations[tracked.name].data_ptr()
            if key not in shared:
                shared[key] = a.t() @ a
            update[f"{tracked.name}/activation"] = shared[key]
            update[f"{tracked.name}/gradient"] = g.t() @ g
        return update

    tokens, documents_seen = _accumulate(model, modules, tokenizer, documents, args, skipped, "covariances",
                                         batch_statistics, sums)
    return Statistics("covariance", sums, tokens, documents_seen, _header(model, modules, args), skipped)


@dataclass
class Eigenbasis:
    """Eigenvectors (columns) and eigenvalues of A and S for one layer."""

    activation_vectors: torch.Tensor
    activation_values: torch.Tensor
    gradient_vectors: torch.Tensor
    gradient_values: torch.Tensor


def eigendecompose(covariances: Statistics) -> dict[str, Eigenbasis]:
    """Eigenbases of the mean covariances, in float64 because small eigenvalues matter after inversion."""
    if covariances.tokens == 0:
        raise InputError(f"no document to fit factors on (skipped: {covariances.skipped})")
    bases = {}
    for name in covariances.header["modules"]:
        parts = []
        for which in ("activation", "gradient"):
            matrix = covariances.sums[f"{name}/{which}"].double() / covariances.tokens
            values, vectors = torch.linalg.eigh((matrix + matrix.t()) / 2)  # symmetrise away rounding
            parts += [vectors, values]
        bases[name] = Eigenbasis(parts[0], parts[1], parts[2], parts[3])
    return bases


def basis_id(bases: dict[str, Eigenbasis]) -> str:
    """Lambda sums are only mergeable if fitted in the same eigenbasis; this names the basis."""
    digest = hashlib.sha256()
    for name in sorted(bases):
        digest.update(bases[name].activation_vectors.float().numpy().tobytes())
        digest.update(bases[name].gradient_vectors.float().numpy().tobytes())
    return digest.hexdigest()[:16]


def rotated_gradients(a: torch.Tensor, g: torch.Tensor, q_s: torch.Tensor, q_a: torch.Tensor) -> torch.Tensor:
    """Q_Sᵀ (Σ_t g_t a_tᵀ) Q_A per sequence, (B, out, in), rotating whichever is cheaper first: the tokens'
    vectors (T·(out² + in²) flops) or the summed gradient (out·in·(out + in))."""
    tokens, out_features, in_features = a.size(1), g.size(2), a.size(2)
    if tokens * (out_features**2 + in_features**2) < out_features * in_features * (out_features + in_features):
        return per_example_gradients(a @ q_a, g @ q_s)
    return q_s.t() @ per_example_gradients(a, g) @ q_a


@torch.no_grad()
def fit_lambdas(
    model: nn.Module, tokenizer, documents: Iterable, bases: dict[str, Eigenbasis], args: FactorArguments
) -> Statistics:
    """Second pass: sums over documents of each document's gradient, rotated into the eigenbasis, squared."""
    modules = find_modules(model, args.modules)
    model.eval()
    device = next(model.parameters()).device
    rotations = {
        t.name: (bases[t.name].gradient_vectors.float().to(device), bases[t.name].activation_vectors.float().to(device))
        for t in modules
    }
    skipped = Skipped()
    sums = {f"{t.name}/lambda": torch.zeros(t.shape, dtype=torch.float64, device=device) for t in modules}

    def batch_statistics(captured) -> dict[str, torch.Tensor]:
        return {
            f"{t.name}/lambda": rotated_gradients(
                captured.activations[t.name], captured.gradients[t.name], *rotations[t.name]
            ).square().sum(dim=0)
            for t in modules
        }

    tokens, documents_seen = _accumulate(model, modules, tokenizer, documents, args, skipped,
                                         "corrected eigenvalues", batch_statistics, sums)
    header = {**_header(model, modules, args), "basis": basis_id(bases)}
    return Statistics("lambda", sums, tokens, documents_seen, header, skipped)


# ---------------------------------------------------------------------------------------------------------
# Fitted factors


@dataclass
class LayerFactors:
    activation_vectors: torch.Tensor  # Q_A (in, in), columns are eigenvectors
    gradient_vectors: torch.Tensor  # Q_S (out, out)
    corrected_eigenvalues: torch.Tensor  # Λ (out, in), mean over documents


@dataclass
class Factors:
    """Fitted EK-FAC factors for some layers of one model; `header` says which model and how."""

    header: dict
    layers: dict[str, LayerFactors]

    @classmethod
    def from_statistics(cls, covariances: Statistics, bases: dict[str, Eigenbasis], lambdas: Statistics) -> Factors:
        if lambdas.header.get("basis") != basis_id(bases):
            raise InputError("the corrected eigenvalues were fitted in another eigenbasis than these factors'")
        layers = {
            name: LayerFactors(
                bases[name].activation_vectors.float(),
                bases[name].gradient_vectors.float(),
                (lambdas.sums[f"{name}/lambda"] / lambdas.documents).float(),
            )
            for name in covariances.header["modules"]
        }
        header = {
            "version": FORMAT_VERSION,
            "fingerprint": covariances.header["fingerprint"],
            "modules": covariances.header["modules"],
            "module_pattern": covariances.header["module_pattern"],
            "fisher": covariances.header["fisher"],
            "covariance_tokens": covariances.tokens,
            "covariance_documents": covariances.documents,
            "lambda_documents": lambdas.documents,
            "skipped_documents": asdict(covariances.skipped),
            "damping_rule": DAMPING_RULE,
        }
        return cls(header, layers)

    def check_model(self, model: nn.Module) -> None:
        if self.header["fingerprint"] != model_fingerprint(model):
            raise InputError(
                "these factors were fitted on another model (fingerprints differ); fit factors for this model first"
            )

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for name, layer in self.layers.items():
            tensors[f"{name}/activation_eigenvectors"] = layer.activation_vectors
            tensors[f"{name}/gradient_eigenvectors"] = layer.gradient_vectors
            tensors[f"{name}/corrected_eigenvalues"] = layer.corrected_eigenvalues
        write_atomic(directory / "factors.json", json.dumps(self.header, indent=2) + "\n")
        save_tensors(tensors, directory / FACTORS_FILE, self.header)  # last: its presence means the factors are whole

    @classmethod
    def load(cls, directory: Path) -> Factors:
        path = Path(directory) / FACTORS_FILE
        if not path.exists():
            raise InputError(f"no factors at {path}; run `curate influence fit` first")
        version = load_header(path).get("version")
        if version != FORMAT_VERSION:
            raise InputError(f"{path} has factor format version {version}, this version reads {FORMAT_VERSION}; "
                             "refit them with `curate influence fit --overwrite`")
        tensors, header = load_tensors(path)
        layers = {}
        for name in header["modules"]:
            keys = [f"{name}/{key}" for key in ("activation_eigenvectors", "gradient_eigenvectors", "corrected_eigenvalues")]
            if not all(key in tensors for key in keys):
                raise InputError(f"{path} lacks the factors of layer {name}; refit them with `curate influence fit --overwrite`")
            layer = LayerFactors(*(tensors[key] for key in keys))
            if not all(torch.isfinite(t).all() for t in vars(layer).values()):
                raise InputError(f"{path}: non-finite values in the factors of layer {name}")
            layers[name] = layer
        return cls(header, layers)


def fit_factors(model: nn.Module, tokenizer, documents: Documents, args: FactorArguments | None = None) -> Factors:
    """Fit EK-FAC factors on `documents` (a list, or a function returning an iterable: it is read twice)."""
    args = args or FactorArguments()
    open_documents = _passes(documents)
    covariances = fit_covariances(model, tokenizer, open_documents(), args)
    bases = eigendecompose(covariances)
    lambdas = fit_lambdas(model, tokenizer, open_documents(), bases, args)
    if covariances.skipped.total:
        log.info("skipped %d documents while fitting factors: %s", covariances.skipped.total, covariances.skipped)
    return Factors.from_statistics(covariances, bases, lambdas)


# ---------------------------------------------------------------------------------------------------------
# Files


def save_tensors(tensors: dict[str, torch.Tensor], path: Path, meta: dict) -> None:
    """Tensors and a JSON header to safetensors, with their checksum (`checksum`), written to a temporary name,
    then renamed: a killed run never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, str(temporary), metadata={"header": sealed_header(meta, tensors)})
    os.chmod(temporary, 0o666 & ~_umask())  # safetensors creates files 0600; the JSON beside them follows the umask
    os.replace(temporary, path)


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def load_header(path: Path) -> dict:
    """The JSON header of a file `save_tensors` wrote, without reading its tensors."""
    from safetensors import safe_open

    with _readable(path), safe_open(str(path), framework="pt") as handle:
        return unsealed(json.loads((handle.metadata() or {}).get("header", "{}")))


def read_checked(path: Path, required: Iterable[str] = ()) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors and JSON header of a file `save_tensors` wrote, its checksum verified. A file cut short, not
    safetensors or changed since raises safetensors' error, OSError or ValueError, and one without a tensor of
    `required` KeyError (checked first: the more precise cause): callers name the file."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    if missing := [key for key in required if key not in tensors]:
        raise KeyError(f"no tensor {missing[0]}")
    header = metadata.get("header", "{}")
    verify(tensors, header)
    return tensors, unsealed(json.loads(header))


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    with _readable(path):
        return read_checked(path)


@contextmanager
def _readable(path: Path) -> Iterator[None]:
    """A file that is cut short or not safetensors at all becomes one line for the user."""
    from safetensors import SafetensorError

    try:
        yield
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(f"{path} is cut short or corrupt ({error}); compute it again: rerun the command that "
                         "wrote it with --overwrite") from None
