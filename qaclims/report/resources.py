"""Wall time and peak memory of every rule, from Snakemake's benchmark records."""

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from qaclims.errors import QaclimsError
from qaclims.report.html import note, table
from qaclims.report.inputs import require_keys

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
        text += note("No benchmark record (not run): " + ", ".join(missing) + ".")
    return text


BENCHMARK_COLUMNS = ["s", "max_rss", "cpu_time"]


def read_benchmarks(folder: str) -> pd.DataFrame:
    """One row per job: columns ``rule`` and BENCHMARK_COLUMNS (NaN where Snakemake measured nothing).

    A rule with one file per job (per shard, per network) keeps them in a sub-folder named after it.
    """
    root, records = Path(folder), []
    for path in sorted(root.glob("**/*.tsv")):
        relative = path.relative_to(root)
        try:
            record = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
        except (ValueError, UnicodeDecodeError) as error:
            raise QaclimsError(f"benchmark file {path} cannot be read ({error}); delete it or rerun its rule") from error
        require_keys(record, BENCHMARK_COLUMNS[:2], str(path), "benchmark file")
        record = record.reindex(columns=BENCHMARK_COLUMNS)
        if not all(pd.api.types.is_numeric_dtype(record[column]) for column in BENCHMARK_COLUMNS):
            raise QaclimsError(f"benchmark file {path} holds non-numbers; delete it or rerun its rule")
        records.append(record.assign(rule=relative.parts[0] if len(relative.parts) > 1 else path.stem))
    if not records:
        return pd.DataFrame({column: pd.Series(dtype=float) for column in BENCHMARK_COLUMNS}).assign(rule="")
    return pd.concat(records, ignore_index=True)
