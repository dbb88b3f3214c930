"""Charts as SVG made on the server, readable without colour (patterns, direct labels, a text
table alternative).  Signatures fixed; bodies being built (issue 9)."""

from __future__ import annotations


def lr_histogram_svg(log10_lrs: list[float], *, thresholds: dict[str, float], title: str) -> str:
    raise NotImplementedError


def cases_over_time_svg(series: list[dict], *, title: str) -> str:
    raise NotImplementedError


def flows_svg(flows: list[dict], *, title: str) -> str:
    raise NotImplementedError


def share_by_family_type_svg(rows: list[dict], *, title: str) -> str:
    raise NotImplementedError
