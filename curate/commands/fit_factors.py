"""`curate influence fit`: EK-FAC factors of a model on a corpus, saved to RUN_DIR/factors.

One machine:   curate influence fit --run-dir runs/x
Sharded:       the statistics are sums, so N tasks can each fit a share of the corpus and be merged:
    curate influence fit --shard K --num-shards N   (for K = 0..N-1: covariance sums of share K)
    curate influence fit --merge                    (merge them, eigendecompose)
    curate influence fit --shard K --num-shards N   (for K = 0..N-1: corrected-eigenvalue sums in that basis)
    curate influence fit --merge                    (merge them into the factors)
or all of it as datatrove tasks: curate influence fit --tasks N --workers W [--executor local|slurm|ray].
A killed run resumes (one machine: after its covariance sums); one with other inputs or settings is refused.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from attribution.ekfac.arguments import DeviceArguments, FactorArguments
from attribution.options import add_options, options_from
from curate.corpus.options import add_corpus_arguments
from curate.errors import InputError
from curate.paths import RunDir, add_run_dir_argument
from filters.arguments import ExecutorArguments


def register(actions) -> None:
    parser = actions.add_parser("fit", help="fit EK-FAC factors of a model on a corpus")
    add_run_dir_argument(parser)
    parser.add_argument("--model", type=Path, help="HF model directory (default: RUN_DIR/model)")
    parser.add_argument("--corpus", type=Path, help="corpus directory or file (default: RUN_DIR/corpus)")
    parser.add_argument("--out", type=Path, help="factors directory (default: RUN_DIR/factors)")
    add_corpus_arguments(parser)
    add_options(parser, FactorArguments)
    add_options(parser, DeviceArguments)
    parser.add_argument("--shard", type=int, default=None, help="fit only share K of the corpus (with --num-shards)")
    parser.add_argument("--num-shards", type=int, default=None, help="number of shares the corpus is split into")
    parser.add_argument("--merge", action="store_true", help="merge the shares' statistics fitted so far")
    add_task_options(parser, "run both stages as N datatrove tasks (one share each), merging between them")
    parser.add_argument("--overwrite", action="store_true", help="delete the factors and statistics in OUT and fit "
                        "from the start (default: resume a fit from the same inputs and settings, refuse others)")
    parser.set_defaults(func=run)


def add_task_options(parser, tasks_help: str) -> None:
    """--tasks, --workers and the executor's options, shared by `influence fit`, `score` and `index`."""
    parser.add_argument("--tasks", type=int, default=0, help=f"{tasks_help} (default: 0, one process)")
    parser.add_argument("--workers", type=int, default=1, help="datatrove tasks run at once (with --tasks)")
    add_options(parser.add_argument_group("executor (with --tasks)"), ExecutorArguments,
                skip=("tasks", "workers", "overwrite"))


def execution_options(args):
    """The executor settings of `add_task_options`' flags; None for a run in this process (no --tasks), which
    refuses executor flags rather than ignore them."""
    if args.tasks < 0:
        raise InputError("--tasks must be ≥ 1 (or 0: one process)")
    execution, default = options_from(ExecutorArguments, args, tasks=args.tasks or 1), ExecutorArguments()
    given = [f"--{f.name.replace('_', '-')} {getattr(execution, f.name)}" for f in dataclasses.fields(default)
             if f.name not in ("tasks", "overwrite") and getattr(execution, f.name) != getattr(default, f.name)]
    if given and not args.tasks:
        raise InputError(f"{given[0]} is for datatrove tasks: pass --tasks N")
    return execution if args.tasks else None


def run(args) -> int:
    from attribution.ekfac import Factors, Skipped
    from attribution.ekfac.stages import Corpus, factors_fitted, fit_factors_stage, share_file
    from filters.influence import fit_factors_on_tasks

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.factors
    corpus = Corpus(args.corpus or run_dir.corpus, args.text_key, args.id_key, args.skip_bad_records)
    model = args.model or run_dir.model
    factor_args, device = options_from(FactorArguments, args), options_from(DeviceArguments, args)
    execution = execution_options(args)
    if (args.shard is None) != (args.num_shards is None) or (args.shard is not None) + args.merge + bool(args.tasks) > 1:
        raise InputError("--shard K --num-shards N, --merge and --tasks N are separate ways to run: give one of them")
    already = factors_fitted(out) and not (args.overwrite or args.merge)
    shard = None if args.shard is None else (args.shard, args.num_shards)
    if args.tasks:
        result = fit_factors_on_tasks(corpus, model, out, factor_args, execution, device)
        if result is None:
            print(f"submitted to Slurm; rerun this command once the jobs finish to merge them into {out}")
            return 0
    else:
        result = fit_factors_stage(corpus, model, out, factor_args, device, shard, args.merge, args.overwrite)
    if already:
        print(f"factors already fitted in {out} from these inputs and settings (pass --overwrite to refit)")
    elif isinstance(result, Factors):
        header, where = result.header, f"{args.tasks} datatrove tasks" if args.tasks else "one process"
        skipped = Skipped(**header["skipped_documents"])
        print(f"fitted EK-FAC factors ({header['fisher']} Fisher) for {len(header['modules'])} layers on "
              f"{header['covariance_documents']} documents, {header['covariance_tokens']} tokens in {where} -> {out}"
              + (f"\nskipped {skipped.total} documents: {skipped}" if skipped.total else ""))
    elif shard is not None:
        print(f"{result.kind} statistics of share {args.shard}/{args.num_shards}: {result.documents} documents, "
              f"{result.tokens} tokens -> {share_file(out, result.kind, *shard)}; run --merge when every share is done")
    else:
        print(f"merged covariance statistics of the shares ({result.documents} documents); now fit the corrected "
              "eigenvalues: --shard K --num-shards N for each share, then --merge")
    return 0
