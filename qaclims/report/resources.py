"""Wall time and peak memory of every rule, from Snakemake's benchmark records."""

from collections.abc import Sequence

import pandas as pd

from qaclims.report.html import note, table

TOTAL = "all jobs"


def rule_resources(benchmarks: pd.DataFrame, rule_order: Sequence[str]) -> pd.DataFrame:
    """One row per rule: its jobs, their wall and CPU seconds summed, and the largest peak RSS (MB).

    ``benchmarks`` has one row per job with the columns ``rule``, ``s``, ``max_rss`` and
    ``cpu_time`` (NaN where Snakemake measured nothing). Rules come in ``rule_order``, then
    any others by name; a last row sums (wall, CPU) or takes the largest (RSS) over all jobs.
    """
    per_rule = benchmarks.groupby("rule").agg(jobs=("s", "size"), wall_seconds=("s", "sum"),
                                              peak_rss_mb=("max_rss", "max"), cpu_seconds=("cpu_time", "sum"))
    order = [rule for rule in rule_order if rule in per_rule.index]
    order += sorted(set(per_rule.index) - set(order))
    total = pd.DataFrame({"jobs": [len(benchmarks)], "wall_seconds": [benchmarks["s"].sum()],
                          "peak_rss_mb": [benchmarks["max_rss"].max()], "cpu_seconds": [benchmarks["cpu_time"].sum()]},
                         index=[TOTAL])
    return pd.concat([per_rule.loc[order], total]).rename_axis("rule").reset_index()


def rules_without_records(benchmarks: pd.DataFrame, rule_order: Sequence[str]) -> list[str]:
    return [rule for rule in rule_order if rule not in set(benchmarks["rule"])]


def duration(seconds: float) -> str:
    """Seconds as h:mm:ss, or with a decimal under a minute."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, whole_seconds = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{whole_seconds:02d}"


def resources_html(resources: pd.DataFrame, missing: Sequence[str]) -> str:
    shown = resources.assign(wall_seconds=resources["wall_seconds"].map(duration),
                             cpu_seconds=resources["cpu_seconds"].map(duration))
    shown.columns = ["rule", "jobs", "wall time", "peak RSS (MB)", "CPU time"]
    text = table(shown, {"peak RSS (MB)": "{:,.0f}"}) + note(
        "Wall and CPU time are summed over a rule's jobs (one per shard for sharded rules), so they add up "
        "the work, not the elapsed time of a parallel run. Peak RSS is the largest of any one job; Snakemake "
        "does not measure GPU memory.")
    if missing:
        text += note("No benchmark record (taken from Snakemake's output cache, or not run): " + ", ".join(missing) + ".")
    return text
