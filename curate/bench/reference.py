"""The same influence computation run by kronfluence (pip `kronfluence`), the reference we check against.

Settings are matched to ours: EK-FAC on the same layers, the same training loss and measurement, the same
sampled labels for the true Fisher (our `sample_labels`, seeded per document), damping 0.1 × mean corrected
eigenvalue per layer, and rank-k queries from a full SVD. Kronfluence's measurement here is the completion's
negative log-likelihood −f, so its score ∇(−f)ᵀ(G + λI)⁻¹∇L is exactly our influence I, sign included.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from attribution.ekfac.data import sample_labels
from attribution.ekfac.modules import find_modules
from attribution.task import Encoded, collate, summed_log_prob
from curate.errors import require

# kronfluence is installed without its dependencies (it requires torchvision, which it never imports); the
# `bench` extra brings the ones it uses
KRONFLUENCE_INSTALL = "pip install 'procedural-curate[bench]' && pip install --no-deps kronfluence==1.0.1"


class _Encoded(Dataset):
    def __init__(self, items: list[Encoded]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Encoded:
        return self.items[index]


@dataclass
class KronfluenceResult:
    scores: torch.Tensor  # (documents, probes), same sign as ours
    fit_seconds: float
    score_seconds: float


def run_kronfluence(
    model: nn.Module, documents: list[Encoded], probes: list[Encoded], module_pattern: str, fisher: str = "true",
    rank: int | None = 32, batch_size: int = 8, seed: int = 0, damping: float | None = None,
) -> KronfluenceResult:
    """Fit EK-FAC factors and score every document against every probe with kronfluence, on a copy of
    `model` (kronfluence wraps the layers it tracks in place)."""
    require("kronfluence", "bench", "the kronfluence reference", KRONFLUENCE_INSTALL)
    from kronfluence.analyzer import Analyzer, prepare_model
    from kronfluence.arguments import FactorArguments, ScoreArguments
    from kronfluence.task import Task
    from kronfluence.utils.dataset import DataLoaderKwargs

    names = [tracked.name for tracked in find_modules(model, module_pattern)]

    class CausalLMTask(Task):
        def _logits(self, batch, model):
            return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

        def compute_train_loss(self, batch, model, sample=False):
            logits = self._logits(batch, model)
            labels = sample_labels(logits, batch, seed) if sample else batch["labels"]
            return -summed_log_prob(logits, labels).sum()

        def compute_measurement(self, batch, model):
            return -summed_log_prob(self._logits(batch, model), batch["labels"]).sum()

        def get_influence_tracked_modules(self):
            return names

        def get_attention_mask(self, batch):
            return batch["attention_mask"]

    logging.getLogger("kronfluence").setLevel(logging.WARNING)
    task = CausalLMTask()
    wrapped = prepare_model(copy.deepcopy(model), task)
    with tempfile.TemporaryDirectory() as output_dir:
        analyzer = Analyzer("bench", wrapped, task, cpu=True, disable_tqdm=True, output_dir=output_dir)
        analyzer.set_dataloader_kwargs(DataLoaderKwargs(collate_fn=collate, num_workers=0))
        factor_args = FactorArguments(strategy="ekfac", use_empirical_fisher=fisher == "empirical")
        start = time.perf_counter()
        analyzer.fit_all_factors("factors", _Encoded(documents), per_device_batch_size=batch_size,
                                 factor_args=factor_args, overwrite_output_dir=True)
        fitted = time.perf_counter()
        score_args = ScoreArguments(damping_factor=damping, query_gradient_low_rank=rank, use_full_svd=True)
        analyzer.compute_pairwise_scores(
            "scores", "factors", _Encoded(probes), _Encoded(documents), per_device_query_batch_size=len(probes),
            per_device_train_batch_size=batch_size, score_args=score_args, overwrite_output_dir=True,
        )
        scored = time.perf_counter()
        scores = analyzer.load_pairwise_scores("scores")["all_modules"].t().contiguous()
    return KronfluenceResult(scores, fitted - start, scored - fitted)
