"""Charts as matplotlib figures, written out as SVG text.

Figures are made with matplotlib's object API, not pyplot, so no GUI backend or global
figure state is involved.
"""

import io
from collections.abc import Mapping

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

BAR_WIDTH_INCHES = 0.11  # per bar, so that 21 VOC classes x 5 stages still read


def per_class_iou_figure(iou: pd.DataFrame) -> Figure:
    """Bars of IoU (%) grouped by class (the rows of ``iou``), one colour per stage (its columns)."""
    classes, stages = iou.index, iou.columns
    figure = Figure(figsize=(max(6.0, 1.5 + BAR_WIDTH_INCHES * iou.size), 4.5), layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / len(stages)
    positions = np.arange(len(classes))
    for offset, stage in enumerate(stages):
        axes.bar(positions + (offset - (len(stages) - 1) / 2) * width, iou[stage].to_numpy(), width, label=stage)
    axes.set_xticks(positions, classes, rotation=40, ha="right")
    axes.set_xlim(-0.6, len(classes) - 0.4)
    axes.set_ylim(0, 100)
    axes.set_ylabel("IoU (%)")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize="small")
    return figure


def threshold_sweep_figure(sweeps: Mapping[str, pd.DataFrame], best_thresholds: Mapping[str, float],
                           fixed_threshold: float | None = None) -> Figure:
    """mIoU (%) against the background threshold, one line per network, its best point marked.

    Each sweep has the columns ``threshold`` and ``miou`` (a fraction). The marked point is the
    sweep's threshold in ``best_thresholds``, as eval_cam picked it (eval_cam.sweep.pick), which
    need not be the highest. The fixed threshold, when given, is drawn as a dashed line.
    """
    figure = Figure(figsize=(6.5, 4.0), layout="constrained")
    axes = figure.add_subplot()
    for name, sweep in sweeps.items():
        miou = sweep["miou"].to_numpy() * 100
        (line,) = axes.plot(sweep["threshold"], miou, label=name)
        best = int(np.flatnonzero(np.isclose(sweep["threshold"], best_thresholds[name]))[0])
        axes.plot(sweep["threshold"].iloc[best], miou[best], "o", color=line.get_color())
        axes.annotate(f"{miou[best]:.1f} at {sweep['threshold'].iloc[best]:.2f}", (sweep["threshold"].iloc[best], miou[best]),
                      textcoords="offset points", xytext=(4, 6), fontsize="small", color=line.get_color())
    if fixed_threshold is not None:
        axes.axvline(fixed_threshold, color="grey", linestyle="--", linewidth=1, label=f"fixed threshold {fixed_threshold:.2f}")
    axes.margins(y=0.12)  # room for the labels of the best points
    axes.set_xlabel("background threshold")
    axes.set_ylabel("mIoU (%)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return figure


def message_figure(text: str) -> Figure:
    """A small figure that says ``text``: a chart's place when there is nothing to draw."""
    figure = Figure(figsize=(6.5, 1.0))
    figure.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return figure


def svg_text(figure: Figure) -> str:
    """The figure as SVG. No date and a fixed id salt: the same figure gives the same file."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "qaclims"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
