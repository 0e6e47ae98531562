"""The building blocks of the benchmark report: figures for its tables, Markdown tables, Agg charts.

``number``, ``ratio``, ``listed`` and ``table`` write the Markdown of bench_report.py; ``figure``, ``bars``
and ``sweep_lines`` draw with matplotlib's Agg backend (no pyplot, no display), and ``Charts`` saves the
charts of one report as PNG files in one folder. A module of this folder, not a benchmark script:
imported as ``bench_render`` by bench_report.py (``python benchmarks/run.py`` puts this folder first on
``sys.path``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MEASURED, BASELINE = "tab:blue", "tab:gray"


def number(value: float | None) -> str:
    """A figure for a table: integers as they are, other numbers with two decimals below 10, one below 100,
    none from 100 (thousands separated)."""
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def ratio(part: float, whole: float) -> str:
    return f"{part / whole:.2f}×" if whole else "–"


def listed(values: list[float]) -> str:
    return ", ".join(number(value) for value in values)


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[cell if isinstance(cell, str) else number(cell) for cell in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    return [*lines, *("| " + " | ".join(row) + " |" for row in cells), ""]


def figure(columns: int = 1, width: float = 7.5, height: float = 4.0) -> tuple[Figure, list[Axes]]:
    """A figure drawn by the Agg backend (no pyplot, no display), with ``columns`` side-by-side axes."""
    drawing = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(drawing)
    return drawing, [drawing.add_subplot(1, columns, column + 1) for column in range(columns)]


def bars(
    axes: Axes, labels: list[str], values: list[float], unit: str, baseline: list[bool] | None = None
) -> None:
    """Bars with their values on top; baselines (the comparison's reference) in grey."""
    colours = [BASELINE if is_baseline else MEASURED for is_baseline in baseline or [False] * len(values)]
    drawn = axes.bar(labels, values, color=colours)
    axes.bar_label(drawn, labels=[number(value) for value in values], padding=2, fontsize=8)
    axes.set_ylabel(unit)
    axes.margins(y=0.15)
    axes.tick_params(axis="x", labelrotation=20, labelsize=8)


class Charts:
    """Saves the charts of one report into ``folder``; each returns its Markdown image line."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.png"):  # a chart skipped this time must not linger from another run
            stale.unlink()
        self.folder = folder

    def save(self, name: str, title: str, drawing: Figure) -> str:
        drawing.suptitle(title)
        drawing.savefig(self.folder / f"{name}.png", dpi=110)
        return f"![{title}]({self.folder.name}/{name}.png)\n"


def sweep_lines(axes: Axes, runs: list[dict[str, Any]], series: str, value: str) -> dict[str, str]:
    """One line per ``series`` value (database, protocol) of ``value`` against users; their colours."""
    colours = {}
    for index, name in enumerate(dict.fromkeys(run[series] for run in runs)):
        mine = sorted((run for run in runs if run[series] == name), key=lambda run: run["users"])
        colours[name] = f"C{index}"
        axes.plot([r["users"] for r in mine], [r[value] for r in mine], "o-", color=colours[name], label=name)
    users = sorted({run["users"] for run in runs})
    axes.set_xscale("log", base=2)
    axes.set_xticks(users, [str(count) for count in users])
    axes.set_ylim(bottom=0)
    axes.set_xlabel("concurrent users")
    axes.legend(fontsize=8)
    return colours
