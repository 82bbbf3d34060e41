"""The ablation table over the seeds of `replicates`: each network's mean, spread and per-seed CAM scores, and its
paired difference to QA-CLIMS, which tell an effect from the noise of training."""

from collections.abc import Mapping

import pandas as pd

from qaclims.report.ablation import NETWORKS, RATES
from qaclims.report.html import note, table

DIFFERENCE = "Δ QA-CLIMS"


def _measures(threshold: float) -> dict[str, str]:
    return {"miou": f"CAM mIoU at {threshold:.2f} (%)", **RATES}


def _spread(values: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation (over seeds, n - 1; none for one seed) and each seed's value of every row."""
    return pd.concat([values.mean(axis=1).rename("mean"), values.std(axis=1).rename("std"),
                      values.rename(columns=lambda seed: f"seed {seed}")], axis=1)


def seed_tables(summaries: Mapping[str, Mapping[int, Mapping]]) -> dict[str, pd.DataFrame]:
    """For the CAM mIoU at the fixed threshold and each rate, a table in percent with one row per network.

    ``summaries`` maps each network (baseline, ritc, a variant), in the table's order, to its eval_cam summary
    of each seed, every network with the same seeds. The columns are the mean, the standard deviation and each
    seed's value, then the same of the paired difference to QA-CLIMS (the network's value minus QA-CLIMS's of
    the same seed) where QA-CLIMS is among the networks; QA-CLIMS's own row has no difference.
    """
    threshold = next(iter(next(iter(summaries.values())).values()))["threshold"]
    tables = {}
    for key, title in _measures(threshold).items():
        values = pd.DataFrame({network: {seed: 100 * summary[key] for seed, summary in by_seed.items()}
                               for network, by_seed in summaries.items()}).T
        frame = _spread(values)
        if "ritc" in values.index:
            difference = (values - values.loc["ritc"]).drop(index="ritc")
            frame = frame.join(_spread(difference).add_prefix(f"{DIFFERENCE}: "))
        frame.insert(0, "variant", [NETWORKS[network][0] if network in NETWORKS else network
                                    for network in frame.index])
        tables[title] = frame.reset_index(drop=True)
    return tables


def _formats(frame: pd.DataFrame) -> dict[str, str]:
    # A difference carries its sign; its standard deviation, like every spread, has none.
    return {column: "{:+.1f}" if column.startswith(DIFFERENCE) and not column.endswith(": std") else "{:.1f}"
            for column in frame.columns[1:]}


def _seeds_note(frame: pd.DataFrame) -> str:
    seeds = [column.removeprefix("seed ") for column in frame.columns if column.startswith("seed ")]
    return (f"Over the training seeds {', '.join(seeds)} of replicates, at the fixed threshold. {DIFFERENCE}: the "
            "network's value minus QA-CLIMS's of the same seed, then their mean and standard deviation. A mean "
            "difference of the same sign on every seed and several times its standard deviation is an effect "
            "rather than the noise of training.")


def seed_tables_html(tables: Mapping[str, pd.DataFrame]) -> str:
    if not tables:
        return ""
    body = "".join(f"<h3>{title}</h3>{table(frame, _formats(frame))}" for title, frame in tables.items())
    return "<h2>Over seeds</h2>" + note(_seeds_note(next(iter(tables.values())))) + body


def seed_tables_text(tables: Mapping[str, pd.DataFrame]) -> str:
    """The tables as plain text, for the log."""
    return "\n\n".join(f"{title}, over seeds:\n" + frame.to_string(
        index=False, na_rep="-", formatters={column: format_text.format for column, format_text in _formats(frame).items()})
        for title, frame in tables.items())
