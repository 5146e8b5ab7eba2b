"""`curate study neurons` (registered by `curate.commands.study`): the neuron-activation lens (Rai & Yao 2024) on a run's model, probes, corpus and scores.

    curate study neurons --run-dir runs/x                        label concept neurons, score documents, ablate
    curate study neurons --ablation noise --noise-scale 2        corrupt with fixed noise instead of zeroing
    curate study neurons --no-ablation --no-score-documents      only the labels and the probes' activations

Writes to RUN_DIR/neurons the tables, plots and summary.md listed in `curate.neurons`.
"""

from __future__ import annotations

from attribution.options import add_options, options_from
from curate.neurons import NeuronArguments
from curate.paths import add_run_dir_argument


def register(experiments) -> None:
    parser = experiments.add_parser("neurons", help="concept neurons: labels, document scores, ablation")
    add_run_dir_argument(parser)
    add_options(parser, NeuronArguments)
    parser.add_argument("--no-ablation", dest="ablate", action="store_false", help="skip the ablation")
    parser.set_defaults(func=run)


def run(args) -> None:
    from curate.neurons import run_neuron_study

    study = run_neuron_study(options_from(NeuronArguments, args))
    for note in study.notes:
        print(note)
    print(study.summary)
    if study.labels.is_empty():
        print("no concept neurons found; lower --min-overlap or raise --top-tokens")
    else:
        print(f"tables and plots in {study.out}")
