"""The table of benchmarks/gpu_check.sh: one row per step with its status, wall time, throughput and peak GPU memory.

    python benchmarks/gpu_table.py WORK

WORK holds steps.tsv (a line per step: name, exit status, wall seconds) and each step's output, NAME.log. A step's
throughput and peak GPU memory are its output's last metrics line; a step without one (a workflow run) takes the
largest peak of the metrics files its run wrote under WORK/NAME/logs (a rehearsal's run: WORK/NAME/results/logs). A
step that exited non-zero, ran out of time or printed no result is FAILED, with the last line of its output under the
table. The forecast that a rehearsal step wrote (WORK/NAME-forecast.md) follows the table.
"""

import argparse
import json
from pathlib import Path

from qaclims.report.resources import read_stage_metrics
from qaclims.runtime.stage_metrics import METRICS_LINE

TIMED_OUT = 124  # timeout(1)'s exit status


def step_result(work: Path, name: str) -> dict | None:
    """The step's metrics record, or None where it gave none."""
    lines = (work / f"{name}.log").read_text(errors="replace").splitlines()
    records = [line[len(METRICS_LINE):] for line in lines if line.startswith(METRICS_LINE)]
    if records:
        return json.loads(records[-1])
    run_metrics = read_stage_metrics(str(run_logs(work, name)))
    if run_metrics.empty:
        return None
    return {"per_second": None, "unit": None, "peak_gpu_memory_mb": run_metrics["peak_gpu_memory_mb"].max(),
            "jobs": len(run_metrics)}


def run_logs(work: Path, name: str) -> Path:
    """The logs of a step's workflow run: a rehearsal keeps its run's outputs under results/."""
    rehearsal_logs = work / name / "results" / "logs"
    return rehearsal_logs if rehearsal_logs.is_dir() else work / name / "logs"


def forecasts(work: Path) -> list[str]:
    """Each rehearsal step's forecast of the full recipe, headed by the step's name, in the order the steps ran."""
    names = [line.split("\t")[0] for line in (work / "steps.tsv").read_text().splitlines()]
    return [f"{name}:\n{(work / f'{name}-forecast.md').read_text()}" for name in names
            if (work / f"{name}-forecast.md").exists()]


def status_of(exit_status: int, result: dict | None) -> str:
    if exit_status == TIMED_OUT:
        return "FAILED (time limit)"
    if exit_status != 0:
        return f"FAILED (exit {exit_status})"
    return "ok" if result is not None else "FAILED (no result)"


def last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def table_rows(work: Path) -> tuple[list[list[str]], list[str]]:
    """The table's rows (step, status, wall, throughput, peak GPU memory) and a note per failed step."""
    rows, notes = [], []
    for line in (work / "steps.tsv").read_text().splitlines():
        name, exit_status, seconds = line.split("\t")
        result = step_result(work, name)
        status = status_of(int(exit_status), result)
        if status != "ok":
            notes.append(f"{name}: {last_line(work / f'{name}.log')}")
        rate, peak = "—", "—"
        if result is not None and result["per_second"] is not None:
            rate = f"{result['per_second']:,.1f} {result['unit']}/s"
        elif result is not None and "jobs" in result:
            rate = f"({result['jobs']} GPU jobs)"
        if result is not None and result["peak_gpu_memory_mb"] is not None:
            peak = f"{result['peak_gpu_memory_mb']:,.0f} MiB"
        rows.append([name, status, f"{float(seconds):.0f} s", rate, peak])
    return rows, notes


def format_table(rows: list[list[str]]) -> str:
    header = ["step", "status", "wall", "throughput", "peak GPU memory"]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="gpu_check.sh's folder of step outputs")
    work = parser.parse_args().work
    rows, notes = table_rows(work)
    print(format_table(rows))
    for note in notes:
        print(note)
    for text in forecasts(work):
        print(f"\n{text}")


if __name__ == "__main__":
    main()
