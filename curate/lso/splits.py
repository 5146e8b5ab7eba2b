"""Which grid cells a model trains on: Leave-Square-Out, its random-split control, and procedural documents.

Leave-Square-Out holds out every (a, b) with |a - a0| <= h and |b - b0| <= h for each centre (a0, b0): a model
that learned the rule answers inside the square as well as outside; one that interpolates between the cases
it saw has a hole there. The control holds out a random 30% of the grid, spread evenly, which interpolation
covers.
"""

from __future__ import annotations

import random

from curate.lso.tasks import GRID_SIZE, Example, render

Point = tuple[int, int]


def grid_points() -> list[Point]:
    return [(a, b) for a in range(GRID_SIZE) for b in range(GRID_SIZE)]


def in_squares(point: Point, centres: list[Point], half_width: int) -> bool:
    a, b = point
    return any(abs(a - a0) <= half_width and abs(b - b0) <= half_width for a0, b0 in centres)


def square_split(centres: list[Point], half_width: int) -> tuple[list[Point], list[Point]]:
    """(train, held out): the held-out cells are every grid point inside any of the squares."""
    if half_width < 0:
        raise ValueError(f"half-width must be >= 0, got {half_width}")
    held_out = [p for p in grid_points() if in_squares(p, centres, half_width)]
    if not held_out:
        raise ValueError(f"squares at {centres} with half-width {half_width} hold out no grid point")
    return [p for p in grid_points() if not in_squares(p, centres, half_width)], held_out


def random_split(test_fraction: float = 0.3, seed: int = 0) -> tuple[list[Point], list[Point]]:
    """(train, held out): round(test_fraction × 10,000) grid points held out uniformly at random."""
    points = grid_points()
    random.Random(seed).shuffle(points)
    n_test = round(test_fraction * len(points))
    return sorted(points[n_test:]), sorted(points[:n_test])


def procedural_examples(
    task: str, fmt: str, n: int, low: int = 100, high: int = 999, seed: int = 0
) -> list[Example]:
    """n worked instances with both operands drawn from [low, high]: demonstrations of the procedure on
    operands outside the grid (3-digit by default, so no document works out a grid cell's problem)."""
    rng = random.Random(f"procedural-{seed}")
    return [render(task, fmt, rng.randint(low, high), rng.randint(low, high)) for _ in range(n)]
