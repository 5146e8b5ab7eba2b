"""`curate probes make`: write the probe sets of a track (synthetic or real) or a validated file of your own, with
reference completions; with --generate-with, also the model's own completions in a second file. `curate probes
eval` (`curate.commands.eval_probes`) measures a model on them.

    curate probes make --run-dir runs/x                           the synthetic world's six sets
    curate probes make --track real --sizes howto=10,factual=20   maths, code tracing, how-to, factbook capitals
    curate probes make --from my_probes.jsonl --generate-with runs/x/model
"""

from __future__ import annotations

import argparse

from attribution.options import add_options, options_from
from curate.commands import eval_probes
from curate.paths import add_run_dir_argument
from curate.probes.stages import TRACK_SIZES, ProbeFileArguments


def _sizes(text: str) -> dict[str, int]:
    sizes = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if not name or not value.isdigit():
            raise argparse.ArgumentTypeError(f"bad item {item!r}; expected SET=N, e.g. arithmetic=20,howto=10")
        sizes[name] = int(value)
    return sizes


def _joined(sizes: dict[str, int]) -> str:
    return ", ".join(f"{name}={n}" for name, n in sizes.items())


def register(subparsers) -> None:
    group = subparsers.add_parser("probes", help="write the probe sets, or measure a model on them")
    actions = group.add_subparsers(dest="probes_command", required=True, metavar="ACTION")
    parser = actions.add_parser("make", help="write the probe sets (reasoning, factual, controls) as jsonl")
    add_run_dir_argument(parser)
    add_options(parser, ProbeFileArguments)
    defaults = "; ".join(f"{track}: {_joined(sizes)}" for track, sizes in TRACK_SIZES.items())
    parser.add_argument("--sizes", type=_sizes, default={},
                        help=f"probes per set, e.g. arithmetic=20,slope=20; unnamed sets keep their track's "
                             f"default ({defaults})")
    parser.set_defaults(func=run)
    eval_probes.register(actions)


def run(args) -> None:
    from curate.probes.stages import make_probe_file

    files = make_probe_file(options_from(ProbeFileArguments, args))
    sets = ", ".join(f"{n} {name}" for name, n in files.sets.items())
    print(f"wrote {sum(files.sets.values())} probes ({sets}) with reference completions to {files.probes}")
    if files.generated:
        kept = sum(files.sets.values()) - len(files.dropped)
        print(f"{files.correct}/{kept} greedy completions end in the correct answer; wrote them to "
              f"{files.generated} (score them with --probes {files.generated})")
        if files.dropped:
            print(f"left out {len(files.dropped)} probes whose completion was empty (e.g. {files.dropped[0]})")
