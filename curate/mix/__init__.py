"""Token-budgeted mixes: buckets of documents by score and/or source, target token shares, repetition caps."""

from attribution.lazy import lazy_exports

_MODULES = {  # module -> names; `build` imports datatrove (a second), so it loads when a name is first used
    "arguments": ("MixArguments",),
    "build": ("build_mix", "hf_token_counter", "plan_copies", "whitespace_token_counter"),
    "spec": ("BucketSpec", "MixSpec", "load_mix_spec", "mix_spec_from_dict"),
}
__all__, __getattr__ = lazy_exports(__name__, _MODULES)
