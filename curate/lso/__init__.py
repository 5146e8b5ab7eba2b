"""Leave-Square-Out (Hu et al. 2024): do small transformers learn a grid task's rule or interpolate cases?

`tasks` (grid tasks and formats), `splits` (square, random split, procedural documents) and `arguments` are
plain Python; `train` and `experiment` need torch.
"""
