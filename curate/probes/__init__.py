"""Probes: the sets whose completions influence is measured on (`sets`, `real`), the files of `curate probes make`,
and how a model does on them (`evaluate`, `stages`). The engine needs only each probe's id, prompt and
completion (`attribution.probe.ProbeLike`)."""
