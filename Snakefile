# qaclims: QA-CLIMS weakly supervised semantic segmentation as a Snakemake workflow.
# `snakemake --cores all` runs the embedded demo; see README.md for real datasets.
import os

from snakemake.utils import min_version, validate

min_version("9.0")


report: "workflow/report/workflow.rst"


# The defaults live next to this file, so the workflow also runs with --directory elsewhere;
# --configfile merges further files over it.
configfile: os.path.join(workflow.basedir, "config.yaml")


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/vqa.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/cam.smk"
include: "workflow/rules/evaluate_cam.smk"
include: "workflow/rules/refine.smk"
include: "workflow/rules/seg.smk"


# What a run makes. The report summary reads all of it, so it runs last.
PIPELINE_OUTPUTS = [
    rules.dataset_report.output,
    rules.corpus.output,
    rules.train_ritc.output,
    expand(rules.eval_cam.output, network=config["make_cam"]["networks"]),
    rules.eval_pseudo.output,
    rules.eval_seg.output,
    rules.seg_submission.output if config["infer_seg"]["test_split"] else [],
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
