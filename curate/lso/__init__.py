"""Leave-Square-Out (Hu et al. 2024): do small transformers learn a grid task's rule or interpolate cases?

`tasks` (grid tasks and formats) and `splits` (square, random split, procedural documents) are plain Python;
`train` and `experiment` need torch; `cli` holds the `curate validate lso` arguments.
"""
