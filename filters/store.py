"""`curate influence index --tasks N`: the gradient store built by datatrove tasks, on any executor (local, Slurm, Ray).

Each task compresses the documents of its rank into shards `shard-{rank:05d}-{index:05d}.safetensors` against
the compression `start_index` saved once; a killed task resumes after its last whole shard. Documents pass
through unchanged, like `InfluenceScorer`'s.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from attribution.ekfac.stages import Corpus, DeviceArguments, bad_records_file
from attribution.store.arguments import IndexArguments
from attribution.store.compress import COMPRESSION_FILE, Compression
from attribution.store.index import finish_index, index_parts, new_summary, start_index
from filters.pipeline import ExecutorArguments, run_tasks


class GradientIndexer(PipelineStep):
    """Compresses this rank's documents into shards of the store in `output_folder`."""

    name = "🗜️ gradient store"
    type = "📊 - STATS"

    def __init__(self, model_path: str | Path, output_folder: str | Path, args: IndexArguments,
                 device: DeviceArguments | None = None):
        super().__init__()
        # absolute, so that workers started elsewhere (Ray, Slurm) find the files
        self.model_path, self.output_folder = Path(model_path).absolute(), Path(output_folder).absolute()
        self.args, self.device = replace(args, progress=False), device or DeviceArguments()

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        compression = Compression.load(self.output_folder / COMPRESSION_FILE)
        model, tokenizer = self.device.load(self.model_path, self.args.max_length)
        summary = new_summary()
        for chunk in index_parts(model, tokenizer, data, compression, self.output_folder, self.args, summary, rank):
            yield from chunk
        self.stat_update("indexed", value=summary["documents_indexed"])
        self.stat_update("skipped", value=summary["skipped"].total)


def index_on_tasks(corpus: Corpus, model_path: Path, factors_path: Path, out: Path, args: IndexArguments,
                   execution: ExecutorArguments, device: DeviceArguments | None = None) -> dict | None:
    """Start or resume the store, then fill it with `execution.tasks` datatrove tasks. Returns the `documents`
    and `shards` the whole store holds, or None when Slurm jobs were submitted without waiting."""
    out, device = Path(out), device or DeviceArguments()
    model, _ = device.load(model_path, args.max_length)
    start_index(model, corpus, factors_path, out, args, execution.tasks, execution.overwrite)
    del model  # each task loads its own
    if not run_tasks([corpus.reader(bad_records_file(out)), GradientIndexer(model_path, out, args, device)],
                     out / "logs", execution):
        return None
    return finish_index(out)
