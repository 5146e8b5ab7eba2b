"""Token-budgeted mixes: buckets of documents by score and/or source, target token shares, repetition caps."""

_MODULES = {  # module -> names; `build` imports datatrove (a second), so it loads when a name is first used
    "arguments": ("MixArguments",),
    "build": ("build_mix", "hf_token_counter", "plan_copies", "whitespace_token_counter"),
    "spec": ("BucketSpec", "MixSpec", "load_mix_spec", "mix_spec_from_dict"),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"curate.mix.{_LAZY[name]}"), name)
    raise AttributeError(name)
