"""`curate classifier train`: learn "procedural" from an influence ranking, with no hand labels."""

from __future__ import annotations

from attribution.options import add_options, options_from
from curate.classify.arguments import ClassifierArguments, LabelArguments, RecallArguments
from curate.corpus.options import add_corpus_arguments
from curate.paths import add_run_dir_argument


def register(actions) -> None:
    parser = actions.add_parser(
        "train", help="train the procedural classifier from influence scores"
    )
    add_run_dir_argument(parser)
    add_corpus_arguments(parser)
    add_options(parser, ClassifierArguments)
    add_options(parser.add_argument_group("labels from the ranking"), LabelArguments)
    add_options(parser.add_argument_group("recall (embedding backend)"), RecallArguments)
    parser.set_defaults(func=run)


def run(args) -> int:
    from curate.classify.train import train_classifier

    labels = options_from(LabelArguments, args)  # seeded by --seed, as the held-out split and the model are
    report = train_classifier(
        options_from(ClassifierArguments, args, labels=labels, recall=options_from(RecallArguments, args))
    )
    if report.bad_records is not None:
        print(f"{report.bad_records.count} bad records set aside in {report.bad_records.path}")
    for name, path in report.files.items():
        provenance = report.provenance[name]
        print(
            f"{name}: trained on {provenance['training_documents']} documents ({provenance['positives']} "
            f"positives); saved {path}"
        )
    if not report.evaluation:
        print(f"no ground truth ({args.truth_key!r}) in the corpus metadata: evaluation skipped")
        return 0
    print(
        f"on {report.heldout_documents} held-out documents (ground truth {args.truth_key!r}, never used for "
        "training):"
    )
    print(report.table)
    shares = report.evaluation["ekfac"]["source_share_of_predicted_positives"]
    print("sources among predicted positives: " + ", ".join(f"{s} {v:.0%}" for s, v in shares.items()))
    print(f"report, PR curve and classifier in {report.out}")
    return 0
