"""`curate bench attribution|filter|representations|memory`: benchmarks; `curate.bench.<name>` runs each."""

from __future__ import annotations

from dataclasses import fields, replace

from attribution.options import add_options, options_from
from curate.bench.arguments import (
    BenchSettings,
    FilterBenchArguments,
    MemoryBenchArguments,
    RepresentationBenchArguments,
)
from curate.paths import add_run_dir_argument


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks (e.g. `curate bench attribution`)")
    names = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")

    attribution = names.add_parser("attribution", help="time this EK-FAC engine against kronfluence")
    attribution.add_argument("--quick", action="store_true", help="a tiny model and corpus (seconds)")
    defaults = BenchSettings()
    for item in fields(BenchSettings):  # default None: the anchor's or --quick's value
        if item.type in ("int", int):
            help = f"default {getattr(defaults, item.name)} (anchor setting)"
            attribution.add_argument(f"--{item.name.replace('_', '-')}", type=int, default=None, help=help)
    attribution.add_argument("--no-kronfluence", action="store_true", help="time this engine only")
    attribution.add_argument("--no-scaling", action="store_true", help="skip the document/probe scaling runs")
    attribution.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    attribution.add_argument("--store", action="store_true", help="also measure the compressed gradient store")
    attribution.add_argument("--store-plot", default=BenchSettings.store_plot, help="its agreement-against-storage "
                             "PNG (default: %(default)s)")
    add_options(attribution, BenchSettings)  # the fields with help text: a real model, its data, the store's sizes
    attribution.set_defaults(func=run_attribution)

    filter_bench = names.add_parser("filter", help="our procedural filter vs fastText in datatrove, one core")
    add_run_dir_argument(filter_bench)
    add_options(filter_bench, FilterBenchArguments)
    filter_bench.set_defaults(func=run_filter)

    representations = names.add_parser("representations", help="classifier representations trained on the same "
                                       "labels: held-out F1 against docs/s/core in datatrove")
    add_options(representations, RepresentationBenchArguments)
    representations.set_defaults(func=run_representations)

    memory = names.add_parser("memory", help="planned against measured peak memory and disk of influence fit, "
                              "score and index, each run as its own process")
    add_options(memory, MemoryBenchArguments)
    memory.set_defaults(func=run_memory)


def run_attribution(args) -> int:
    from curate.bench.attribution import run_bench

    given = {item.name: getattr(args, item.name) for item in fields(BenchSettings)
             if getattr(args, item.name, None) is not None}
    settings = BenchSettings.quick() if args.quick else BenchSettings()
    run_bench(replace(settings, **given, kronfluence=not args.no_kronfluence, scaling=not args.no_scaling))
    return 0


def run_filter(args) -> int:
    from curate.bench.filter import run_filter_bench

    options = options_from(FilterBenchArguments, args)
    summary = run_filter_bench(options)
    print(f"{summary['timed_documents']} documents ({options.copies} copies of the corpus), one task, one "
          f"worker, one thread; reading alone {summary['reading_seconds']:.2f} s")
    print(f"{'filter':<10} {'docs/s/core':>12} {'F1 (held-out)':>14}")
    for name in ("ours", "fasttext"):
        print(f"{name:<10} {summary[name]['docs_per_second_per_core']:>12.0f} {summary[name]['f1']:>14.3f}")
    print(f"ours / fastText throughput: {summary['speed_ratio_ours_over_fasttext']:.2f}; "
          f"written to {options.output_dir}")
    return 0


def run_representations(args) -> int:
    from curate.bench.representations import run_representation_bench

    report = run_representation_bench(options_from(RepresentationBenchArguments, args))
    print(report.files["md"].read_text())
    print(f"written to {report.files['md'].parent}")
    return 0


def run_memory(args) -> int:
    from curate.bench.memory import run_memory_bench

    run_memory_bench(options_from(MemoryBenchArguments, args))
    return 0
