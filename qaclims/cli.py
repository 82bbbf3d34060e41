"""`qaclims <stage> ...`: every workflow stage is also a command (also `python -m qaclims`)."""

import argparse
import ast
import contextlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from qaclims.errors import QaclimsError
from qaclims.runtime.job_locks import JOB_LOCKS_VARIABLE, job_lock

# Stage modules are imported only when chosen: they import torch and more, which takes seconds.
STAGES = {
    "demo-data": "qaclims.stages.demo_data",
    "prepare-images": "qaclims.stages.prepare_images",
    "index": "qaclims.stages.index",
    "check-data": "qaclims.stages.check_data",
    "dataset-report": "qaclims.stages.dataset_report",
    "demo-blip": "qaclims.stages.demo_blip",
    "demo-clip": "qaclims.stages.demo_clip",
    "demo-backbone": "qaclims.stages.demo_backbone",
    "vqa": "qaclims.stages.vqa",
    "vqa-merge": "qaclims.stages.vqa_merge",
    "demo-knowledge": "qaclims.stages.demo_knowledge",
    "corpus": "qaclims.stages.corpus",
    "train-cam": "qaclims.stages.train_cam",
    "train-ritc": "qaclims.stages.train_ritc",
    "make-cam": "qaclims.stages.make_cam",
    "eval-cam": "qaclims.stages.eval_cam",
    "cam-overlays": "qaclims.stages.cam_overlays",
    "ir-label": "qaclims.stages.ir_label",
    "train-irn": "qaclims.stages.train_irn",
    "pseudo-label": "qaclims.stages.pseudo_label",
    "eval-pseudo": "qaclims.stages.eval_pseudo",
    "label-overlays": "qaclims.stages.label_overlays",
    "train-seg": "qaclims.stages.train_seg",
    "infer-seg": "qaclims.stages.infer_seg",
    "eval-seg": "qaclims.stages.eval_seg",
    "seg-submission": "qaclims.stages.seg_submission",
    "predict": "qaclims.stages.predict",
    "export-labels": "qaclims.stages.export_labels",
    "report-summary": "qaclims.stages.report_summary",
    "rehearse": "qaclims.stages.rehearse",
}


def _description(module: str) -> str:
    """The stage's DESCRIPTION, read from its source without running it, so that the listing imports no stage."""
    source = Path(importlib.util.find_spec(module).origin).read_text()
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "DESCRIPTION" for target in statement.targets):
            return ast.literal_eval(statement.value)
    raise QaclimsError(f"stage module {module} assigns no DESCRIPTION string")


def _usage() -> str:
    lines = ["usage: qaclims <stage> [options]   (qaclims <stage> --help for its options)", "", "stages:"]
    lines += [f"  {name:<16} {_description(module)}" for name, module in STAGES.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in STAGES:
        print(f"qaclims: unknown stage {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    from qaclims.stages.shared.arguments import resolve_config

    stage = importlib.import_module(STAGES[name])
    parser = argparse.ArgumentParser(prog=f"qaclims {name}", description=stage.DESCRIPTION)
    stage.add_arguments(parser)
    args = parser.parse_args(rest)
    # A job of a workflow run holds its job lock, so that the next driver knows it still runs.
    job_locks = os.environ.get(JOB_LOCKS_VARIABLE)
    try:
        resolve_config(args, STAGES[name])
        with job_lock(job_locks) if job_locks else contextlib.nullcontext():
            stage.run(args)
    except QaclimsError as error:
        print(f"qaclims {name}: error: {error}", file=sys.stderr)
        return 2
    return 0
