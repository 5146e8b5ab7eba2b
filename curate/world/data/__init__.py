"""The synthetic world's data files (TOML), read through importlib.resources so they ship in the package."""

import tomllib
from importlib import resources


def load(name: str) -> dict:
    """The parsed contents of one data file of this folder, e.g. load("facts.toml")."""
    return tomllib.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))
