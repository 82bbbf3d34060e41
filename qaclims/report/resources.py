"""Wall time and peak memory of every rule, from Snakemake's benchmark records, and the throughput and peak GPU
memory of the rules whose jobs write metrics files (the GPU rules and corpus), which also stand in for the benchmark
of a cacheable rule."""

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from qaclims.errors import QaclimsError
from qaclims.report.html import note, table
from qaclims.report.inputs import require_keys

TOTAL = "all jobs"


def rule_resources(benchmarks: pd.DataFrame, metrics: pd.DataFrame, rule_order: Sequence[str]) -> pd.DataFrame:
    """One row per rule: its jobs, their wall and CPU seconds summed, the largest peak RSS (MB), the largest peak
    GPU memory (MB) and the rule's throughput (items per second of a job, ``unit`` naming the items).

    ``benchmarks`` has one row per job with the columns ``rule``, ``s``, ``max_rss`` and ``cpu_time``, and
    ``metrics`` one row per job that wrote a metrics file, with ``rule`` and METRICS_COLUMNS (NaN where nothing was
    measured). A rule's jobs are those of its benchmark records, or of its metrics files where it has no benchmark
    (the cacheable vqa and corpus): then their loop seconds and peak RSS stand for the wall time and the peak RSS.
    Rules come in ``rule_order``, then any others by name; a last row sums (jobs, wall, CPU) or takes the largest
    (RSS, GPU memory) over all rules.
    """
    per_rule = benchmarks.groupby("rule").agg(jobs=("s", "size"), wall_seconds=("s", "sum"),
                                              peak_rss_mb=("max_rss", "max"), cpu_seconds=("cpu_time", "sum"))
    metered = metrics.groupby("rule").agg(metric_jobs=("items", "size"), items=("items", "sum"),
                                          seconds=("seconds", "sum"), peak_gpu_mb=("peak_gpu_memory_mb", "max"),
                                          metric_rss_mb=("peak_rss_mb", "max"), unit=("unit", "first"))
    per_rule = per_rule.join(metered, how="outer")
    unbenchmarked = per_rule["jobs"].isna()
    per_rule["jobs"] = per_rule["jobs"].fillna(per_rule["metric_jobs"]).astype(int)
    per_rule.loc[unbenchmarked, "wall_seconds"] = per_rule.loc[unbenchmarked, "seconds"]
    per_rule.loc[unbenchmarked, "peak_rss_mb"] = per_rule.loc[unbenchmarked, "metric_rss_mb"]
    per_rule["items_per_second"] = per_rule["items"] / per_rule["seconds"].where(per_rule["seconds"] > 0)
    per_rule = per_rule.drop(columns=["metric_jobs", "items", "seconds", "metric_rss_mb"])
    order = [rule for rule in rule_order if rule in per_rule.index]
    order += sorted(set(per_rule.index) - set(order))
    total = pd.DataFrame({"jobs": [per_rule["jobs"].sum()], "wall_seconds": [per_rule["wall_seconds"].sum()],
                          "peak_rss_mb": [per_rule["peak_rss_mb"].max()],
                          "cpu_seconds": [per_rule["cpu_seconds"].sum()],
                          "peak_gpu_mb": [per_rule["peak_gpu_mb"].max()]}, index=[TOTAL])
    return pd.concat([per_rule.loc[order], total]).rename_axis("rule").reset_index()[RESOURCE_COLUMNS]


RESOURCE_COLUMNS = ["rule", "jobs", "wall_seconds", "peak_rss_mb", "cpu_seconds", "peak_gpu_mb", "items_per_second",
                    "unit"]


def rules_without_records(benchmarks: pd.DataFrame, metrics: pd.DataFrame, rule_order: Sequence[str]) -> list[str]:
    recorded = set(benchmarks["rule"]) | set(metrics["rule"])
    return [rule for rule in rule_order if rule not in recorded]


def duration(seconds: float) -> str:
    """Seconds as h:mm:ss, or with a decimal under a minute."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, whole_seconds = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{whole_seconds:02d}"


def rate(row: pd.Series) -> str | None:
    """``12.5 img/s``; None where the rule counted no items."""
    if pd.isna(row["items_per_second"]):
        return None
    return f"{row['items_per_second']:,.1f} {row['unit']}/s"


def resources_html(resources: pd.DataFrame, missing: Sequence[str]) -> str:
    shown = resources.assign(wall_seconds=resources["wall_seconds"].map(duration, na_action="ignore"),
                             cpu_seconds=resources["cpu_seconds"].map(duration, na_action="ignore"),
                             throughput=resources.apply(rate, axis=1)).drop(columns=["items_per_second", "unit"])
    shown.columns = ["rule", "jobs", "wall time", "peak RSS (MB)", "CPU time", "peak GPU memory (MB)", "throughput"]
    text = table(shown, {"peak RSS (MB)": "{:,.0f}", "peak GPU memory (MB)": "{:,.0f}"}) + note(
        "Wall and CPU time are summed over a rule's jobs (one per shard for sharded rules), so they add up "
        "the work, not the elapsed time of a parallel run. Peak RSS and peak GPU memory are the largest of any one "
        "job; GPU memory is what tensors held at once, measured by the GPU rules themselves (none on a CPU run). "
        "Throughput is a job's images (img) or questions (q) per second over its main loop, all its jobs together "
        "over their summed loop time. A rule with no benchmark (vqa and corpus, cacheable) shows the time of its main "
        "loop and the peak RSS of its main process, from its metrics file; a result taken from the output cache "
        "shows nothing.")
    if missing:
        text += note("No benchmark record or metrics file (not run): " + ", ".join(missing) + ".")
    return text


BENCHMARK_COLUMNS = ["s", "max_rss", "cpu_time"]


def read_benchmarks(folder: str) -> pd.DataFrame:
    """One row per job: columns ``rule`` and BENCHMARK_COLUMNS (NaN where Snakemake measured nothing).

    A rule with one file per job (per shard, per network) keeps them in a sub-folder named after it.
    """
    root, records = Path(folder), []
    for path in sorted(root.glob("**/*.tsv")):
        try:
            record = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
        except (ValueError, UnicodeDecodeError) as error:
            raise QaclimsError(f"benchmark file {path} cannot be read ({error}); delete it or rerun its rule") from error
        require_keys(record, BENCHMARK_COLUMNS[:2], str(path), "benchmark file")
        record = record.reindex(columns=BENCHMARK_COLUMNS)
        if not all(pd.api.types.is_numeric_dtype(record[column]) for column in BENCHMARK_COLUMNS):
            raise QaclimsError(f"benchmark file {path} holds non-numbers; delete it or rerun its rule")
        records.append(record.assign(rule=rule_of(path, root, ".tsv")))
    if not records:
        return pd.DataFrame({column: pd.Series(dtype=float) for column in BENCHMARK_COLUMNS}).assign(rule="")
    return pd.concat(records, ignore_index=True)


def rule_of(path: Path, root: Path, suffix: str) -> str:
    """The rule of a job's file: the sub-folder of a rule with one file per job, else the file's name."""
    relative = path.relative_to(root)
    return relative.parts[0] if len(relative.parts) > 1 else relative.name.removesuffix(suffix)


METRICS_SUFFIX = ".metrics.json"
METRICS_COLUMNS = ["items", "unit", "seconds", "peak_gpu_memory_mb", "peak_rss_mb"]
OPTIONAL_METRICS = {"peak_rss_mb"}  # not in the metrics files of older versions


def read_stage_metrics(folder: str) -> pd.DataFrame:
    """One row per job that wrote a metrics file under ``folder``: columns ``rule`` and METRICS_COLUMNS."""
    root, records = Path(folder), []
    for path in sorted(root.glob(f"**/*{METRICS_SUFFIX}")):
        if path.stat().st_size == 0:
            continue  # the empty log file that Snakemake leaves for a job taken from the output cache
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise QaclimsError(f"metrics file {path} cannot be read ({error}); delete it or rerun its rule") from error
        required = [key for key in METRICS_COLUMNS if key not in OPTIONAL_METRICS]
        require_keys(record, required, str(path), "metrics file")
        values = {key: record.get(key) for key in METRICS_COLUMNS}
        records.append({"rule": rule_of(path, root, METRICS_SUFFIX), **values})
    frame = pd.DataFrame(records, columns=["rule", *METRICS_COLUMNS])
    return frame.astype({"items": float, "seconds": float, "peak_gpu_memory_mb": float, "peak_rss_mb": float})
