"""Tables as text: one place that decides how result tables look in markdown files and on the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


def as_text(frame: pl.DataFrame, markdown: bool = True, float_precision: int = 3) -> str:
    """The whole table (every row and column), as markdown or as polars' terminal box."""
    import polars as pl  # imported here, so that the modules that print tables stay light for the CLI

    options = dict(
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        float_precision=float_precision,
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=400,
        fmt_str_lengths=80,
    )
    if markdown:
        options["tbl_formatting"] = "MARKDOWN"
    with pl.Config(**options):
        return str(frame)
