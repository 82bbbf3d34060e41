"""The ablation table: every CAM network of the run, what it changes, and its seed scores."""

from collections.abc import Mapping

import pandas as pd

from qaclims.report.html import note, table

# The networks of make_cam.networks: what they are, in place of a variant's overrides.
NETWORKS = {"baseline": ("Baseline", "the classifier alone, without RITC training"),
            "ritc": ("QA-CLIMS", "none: the full method")}
RATES = {"background_false_activation": "background false activation (%)",
         "foreground_under_activation": "foreground under-activation (%)"}


def _value_words(value) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{key.replace('_', ' ')} {_value_words(value[key])}" for key in sorted(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_words(item) for item in value)
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "none"}[value]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def overrides_in_words(overrides: Mapping) -> str:
    """A variant's overrides as a reader says them: ``{loss_weights: {foreground: 0}, alpha: 0.3}`` is
    "alpha: 0.3; loss weights: foreground 0". Keys are read as they are, so no setting needs a phrase of its own,
    and in alphabetical order, as the stage receives its config (sorted, so that reordering a file reruns nothing)."""
    return "; ".join(f"{key.replace('_', ' ')}: {_value_words(overrides[key])}" for key in sorted(overrides)) or "none"


def ablation_table(summaries: Mapping[str, Mapping], variants: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per network, in the order of ``summaries`` (network -> its eval_cam summary), figures in percent.

    ``variants`` maps each variant among them to its overrides; the other networks are baseline and ritc. Each
    of the summaries' extra splits adds its mIoU and rates as columns.
    """
    threshold = next(iter(summaries.values()))["threshold"]
    rows = []
    for network, summary in summaries.items():
        name, changes = (network, overrides_in_words(variants[network])) if network in variants else NETWORKS[network]
        row = {"variant": name, "overrides": changes, f"mIoU at {threshold:.2f} (%)": 100 * summary["miou"],
               "best mIoU (%)": 100 * summary["best_miou"], "best threshold": summary["best_threshold"],
               **{title: 100 * summary[key] for key, title in RATES.items()}}
        for split, scores in summary["splits"].items():
            row[f"{split}: mIoU (%)"] = 100 * scores["miou"]
            row.update({f"{split}: {title}": 100 * scores[key] for key, title in RATES.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def ablation_html(frame: pd.DataFrame) -> str:
    formats = {column: "{:.1f}" for column in frame.columns if column.endswith("(%)")}
    return table(frame, {**formats, "best threshold": "{:.2f}"}) + note(
        "Each variant is QA-CLIMS trained with the overrides shown, its CAMs scored like the others on the same "
        "split; an answerer of vqa.answerers (overrides of vqa) is QA-CLIMS trained on that answerer's corpus. Background false activation: the share of ground-truth background pixels labelled as a class; "
        "foreground under-activation: the share of ground-truth object pixels labelled background; both at the "
        "fixed threshold. The best threshold is tuned on the evaluation labels, so compare the fixed-threshold "
        "mIoU. Only QA-CLIMS feeds the pseudo labels.")


def ablation_text(frame: pd.DataFrame) -> str:
    """The table's whole-split columns as plain text, for the log: the extra splits' columns stay in the HTML."""
    whole_split = [column for column in frame.columns if ": " not in column]
    formats = {column: "{:.1f}".format for column in whole_split if column.endswith("(%)")}
    return frame[whole_split].to_string(index=False, formatters={**formats, "best threshold": "{:.2f}".format})
