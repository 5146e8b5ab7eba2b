"""Recipes: TOML files naming the stages of a run and their arguments (`curate run RECIPE`)."""
