# qaclims: QA-CLIMS weakly supervised semantic segmentation as a Snakemake workflow.
# `snakemake --cores all` runs the embedded demo; see docs/real-data.md for real datasets.
import os
import socket
import sys

from snakemake.utils import min_version, validate

min_version("9.0")


report: "workflow/report/workflow.rst"


# The defaults live next to this file, so the workflow also runs with --directory elsewhere;
# --configfile merges further files over it.
configfile: os.path.join(workflow.basedir, "config.yaml")


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"


# Holds the driver locks that refuse other drivers in this working folder and in the output folder until this
# Snakemake exits, and removes the lock that a driver of this machine, killed outright, left there once none of its
# jobs runs. A command that only reads goes through beside a running driver. A job's own Snakemake, on a cluster
# node, is no driver. The jobs hold job locks in the folder named by the variable.
from qaclims.runtime.driver_lock import hold_driver_locks, job_locks_folder, reads_only
from qaclims.runtime.job_locks import JOB_LOCKS_VARIABLE

os.environ[JOB_LOCKS_VARIABLE] = job_locks_folder(os.getcwd())
DRIVER_LOCKS = (
    hold_driver_locks(os.getcwd(), OUT, socket.gethostname(), reads_only(sys.argv, workflow.output_settings.dryrun))
    if workflow.is_main_process
    else []
)


include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/vqa.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/cam_training.smk"
include: "workflow/rules/cam_maps.smk"
include: "workflow/rules/refine.smk"
include: "workflow/rules/seg.smk"


# What a run makes. The report summary reads all of it, so it runs last.
PIPELINE_OUTPUTS = [
    rules.dataset_report.output,
    rules.demo_knowledge.output if config["dataset"]["kind"] == "demo" else [],
    rules.corpus.output,
    expand(rules.answerer_corpus.output, answerer=ANSWERERS),
    expand(rules.train_ritc.output, network="ritc"),
    expand(rules.eval_cam.output, network=replicates(EVALUATED_NETWORKS)) if SCORES_CAMS else [],
    rules.eval_pseudo.output if SCORES_CAMS else [],
    rules.train_seg.output,
    rules.export.output,
    rules.eval_seg.output if SCORES_SEG else [],
    rules.seg_submission.output if config["infer_seg"]["test_split"] else [],
    rules.predict.output if config["predict"]["images"] else [],
]


include: "workflow/rules/report.smk"


# Every other job is a real job on a cluster too: `all` only collects the targets.
localrules:
    all,


rule all:
    default_target: True
    input:
        PIPELINE_OUTPUTS,
        rules.report_summary.output,
