"""Token-budgeted mixes: buckets of documents by score and/or source, target token shares, repetition caps."""

from curate.mix.build import build_mix, hf_token_counter, plan_copies, whitespace_token_counter
from curate.mix.spec import BucketSpec, MixSpec, load_mix_spec, mix_spec_from_dict

__all__ = [
    "BucketSpec",
    "MixSpec",
    "build_mix",
    "hf_token_counter",
    "load_mix_spec",
    "mix_spec_from_dict",
    "plan_copies",
    "whitespace_token_counter",
]
