"""Benchmarks: how fast and how close to the reference the toolkit's engines are."""
