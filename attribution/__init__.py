"""The attribution engine: which pretraining documents raise a model's log p(completion | prompt) for a probe.

It stands alone and imports nothing of `curate`: `task` (what is measured), `probe` (what it needs of a probe),
`ekfac` (EK-FAC factors, queries and scores), `store` (the compressed gradient store), `scores` (reading score
files), `model` (loading a causal LM), `corpus` (reading a corpus through datatrove), and its small base:
`errors`, `io`, `options`, `progress`, `lazy`.
"""
