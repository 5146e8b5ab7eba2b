"""The synthetic world: what the probes ask and what the synthetic corpus teaches, in one place.

- `tasks`: the reasoning tasks' prompt and step-by-step solution formats, and the probes' number ranges;
- `facts`: the real-world facts the factual probes ask about and the corpus states (data in `data/`);
- `corpus`: the seeded generator of the embedded synthetic pretraining corpus.

Nothing here imports the attribution engine: the probes and the corpus both build on this package.
"""
