"""Charts as matplotlib figures, written out as SVG text.

Figures are made with matplotlib's object API, not pyplot, so no GUI backend or global
figure state is involved.
"""

import io
import math
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from qaclims.report.training import Curve
from qaclims.train.curve_columns import LEARNING_RATE, LOSS, STEP

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


PANEL_INCHES = (3.6, 2.6)
GROUP_LINE_STYLES = ["-", "--", ":", "-."]
MARKED_POINTS = 50  # a curve of this many points or fewer marks them, so that a curve of one point shows


def training_curves_figure(curves: Sequence[Curve]) -> Figure:
    """Losses and learning rates against the step: a panel per loss term, then one of the learning rates.

    Each curve is a line of its own colour in every panel, so that the trainings of one chart (QA-CLIMS and its
    variants, or the seeds of replicates) compare term by term. In the learning-rate panel each parameter group
    has a line style of its own.
    """
    terms = list(dict.fromkeys(term for curve in curves for term in curve.loss_terms()))
    groups = list(dict.fromkeys(group for curve in curves for group in curve.parameter_groups()))
    styles = dict(zip(groups, GROUP_LINE_STYLES * len(groups)))
    panels = len(terms) + 1
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(PANEL_INCHES[0] * columns, PANEL_INCHES[1] * rows + 0.4), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    loss_axes, rate_axes = dict(zip(terms, axes)), axes[len(terms)]
    for index, curve in enumerate(curves):
        line = {"color": f"C{index % 10}", "marker": "." if len(curve.points) <= MARKED_POINTS else None}
        steps = curve.points[STEP]
        for term in curve.loss_terms():
            loss_axes[term].plot(steps, curve.points[LOSS + term], **line)
        for group in curve.parameter_groups():
            rate_axes.plot(steps, curve.points[LEARNING_RATE + group], linestyle=styles[group], **line)
    for term, panel in loss_axes.items():
        panel.set_title(f"{term} loss", fontsize="medium")
    rate_axes.set_title("learning rate", fontsize="medium")
    rate_axes.legend(handles=[Line2D([], [], color="black", linestyle=styles[group], label=group) for group in groups],
                     fontsize="small", title="parameter group", title_fontsize="small")
    for panel in axes[:panels]:
        panel.set_xlabel("step")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.grid(alpha=0.3)
    for panel in axes[panels:]:
        panel.set_axis_off()
    figure.legend(handles=[Line2D([], [], color=f"C{index % 10}", label=curve.label) for index, curve in enumerate(curves)],
                  loc="outside upper center", ncols=min(len(curves), 5), frameon=False)
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
