# The run report's summary files. The rule reads every other target of `rule all` (PIPELINE_OUTPUTS, from
# the Snakefile), so it runs last, when every benchmark record of the run exists. It has no benchmark of
# its own: it could not report it.

REPORT_NETWORKS = config["make_cam"]["networks"]
SCORED_NETWORKS = REPORT_NETWORKS if SCORES_CAMS else []
# The options of the scores that exist: an option with no file would take the next option as its value.
PSEUDO_SCORE_OPTIONS = " --pseudo-summary {input.pseudo_summary:q} --pseudo-per-class {input.pseudo_per_class:q}"
SEG_SCORE_OPTIONS = " --seg-summary {input.seg_summary:q} --seg-per-class {input.seg_per_class:q}"
# Every rule defined so far that has a benchmark (all but the cacheable vqa and corpus, see OUTPUT_CACHE) or a
# metrics file (the GPU rules and corpus, see metered_logs), in the order of the rule files, the pipeline's order. The
# resources table lists them in this order, and names those without either record (not part of this run). The
# answerers' rules are part of an answerer comparison only (vqa.answerers).
REPORTED_RULES = [rule.name for rule in workflow.rules if (rule.benchmark or "metrics" in rule.log.keys())
                  and (ANSWERERS or not rule.name.startswith("answerer_"))]
# The trainings' curve tables, read (not declared: they are logs) for a chart per training rule, each
# table as LABEL=PATH, the label naming the network (and its seed, past the first of `replicates`) as its weights
# and its TensorBoard folder do.
TRAINING_CURVES = {
    "train_cam": [f"{network}={curve_path(f'train_cam/{network}')}" for network in replicates(["baseline"])],
    "train_ritc": [f"{network}={curve_path(f'train_ritc/{network}')}" for network in replicates(RITC_NETWORKS)],
    "train_irn": [f"irn={curve_path('train_irn')}"],
    "train_seg": [f"deeplab={curve_path('train_seg')}"],
}


rule report_summary:
    input:
        pipeline=PIPELINE_OUTPUTS,
        index=rules.index.output.index,
        cam_summaries=expand(rules.eval_cam.output.summary, network=SCORED_NETWORKS),
        cam_per_class=expand(rules.eval_cam.output.per_class, network=SCORED_NETWORKS),
        cam_sweeps=expand(rules.eval_cam.output.sweep, network=SCORED_NETWORKS),
        cam_overlays=expand((rules.eval_cam if SCORES_CAMS else rules.cam_overlays).output.overlays,
                            network=REPORT_NETWORKS),
        variant_summaries=expand(rules.eval_cam.output.summary, network=VARIANTS),
        answerer_summaries=expand(rules.eval_cam.output.summary, network=ANSWERER_OF_NETWORK),
        answerer_answers=expand(rules.answerer_vqa_merge.output.answers, answerer=ANSWERERS),
        # The scores of the further seeds of `replicates`, for the ablation table over seeds.
        replicate_summaries=expand(rules.eval_cam.output.summary,
                                   network=replicates([*SCORED_NETWORKS, *RITC_ALTERNATIVES], FURTHER_SEEDS)),
        pseudo_summary=rules.eval_pseudo.output.summary if SCORES_CAMS else [],
        pseudo_per_class=rules.eval_pseudo.output.per_class if SCORES_CAMS else [],
        pseudo_overlays=(rules.eval_pseudo if SCORES_CAMS else rules.label_overlays).output.overlays,
        seg_summary=rules.eval_seg.output.summary if SCORES_SEG else [],
        seg_per_class=rules.eval_seg.output.per_class if SCORES_SEG else [],
        answers=rules.vqa_merge.output.answers,
        corpus=rules.corpus.output.corpus,
        # The demo's scores of what the stand-ins know of its world.
        model_scores=[
            *([rules.demo_knowledge.output.scores] if config["dataset"]["kind"] == "demo" else []),
            *([rules.demo_backbone.output.metrics] if DEMO_BACKBONE else []),
        ],
    output:
        miou=report(f"{OUT}/report/miou.html", caption="../report/miou.rst", category="Summary",
                    labels={"figure": "mIoU per stage"}),
        ablation=report(f"{OUT}/report/ablation.html", caption="../report/ablation.rst", category="Summary",
                        labels={"figure": "ablation table"}),
        per_class_iou=report(f"{OUT}/report/per_class_iou.svg", caption="../report/per_class_iou.rst",
                             category="Summary", labels={"figure": "IoU per class"}),
        threshold_sweep=report(f"{OUT}/report/threshold_sweep.svg", caption="../report/threshold_sweep.rst",
                               category="Summary", labels={"figure": "CAM threshold sweep"}),
        cam_overlays=report(f"{OUT}/report/cam_overlays.png", caption="../report/cam_overlays.rst",
                            category="Overlays", labels={"figure": "CAMs: baseline and QA-CLIMS"}),
        label_overlays=report(f"{OUT}/report/label_overlays.png", caption="../report/label_overlays.rst",
                              category="Overlays", labels={"figure": "seed and pseudo labels"}),
        vqa_samples=report(f"{OUT}/report/vqa_samples.html", caption="../report/vqa_samples.rst",
                           category="VQA and corpus", labels={"figure": "answers and corpus texts"}),
        stage_resources=report(f"{OUT}/report/stage_resources.html", caption="../report/stage_resources.rst",
                               category="Resources", labels={"figure": "time and memory per rule"}),
        train_cam=training_chart("train_cam", "baseline CAM training"),
        train_ritc=training_chart("train_ritc", "QA-CLIMS training and its variants"),
        train_irn=training_chart("train_irn", "IRNet training"),
        train_seg=training_chart("train_seg", "DeepLab training"),
    params:
        config=stage_config("report_summary"),
        code=stage_code("report_summary"),
        networks=REPORT_NETWORKS,
        variants=VARIANTS,
        answerers=ANSWERERS,
        # Read, not declared: Snakemake writes a job's record after the job, and cached rules write none.
        benchmarks=f"{OUT}/benchmarks",
        stage_metrics=f"{OUT}/logs",
        rules=REPORTED_RULES,
        **TRAINING_CURVES,
    log:
        log_path("report_summary"),
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("report-summary --config {params.config:q} --index {input.index:q} --networks {params.networks}"
        " --cam-summaries {input.cam_summaries:q} --cam-per-class {input.cam_per_class:q}"
        " --cam-sweeps {input.cam_sweeps:q} --cam-overlays {input.cam_overlays:q}"
        " --variants {params.variants} --variant-summaries {input.variant_summaries:q}"
        " --answerers {params.answerers} --answerer-summaries {input.answerer_summaries:q}"
        " --answerer-answers {input.answerer_answers:q}"
        " --replicate-summaries {input.replicate_summaries:q}"
        + (PSEUDO_SCORE_OPTIONS if SCORES_CAMS else "") + (SEG_SCORE_OPTIONS if SCORES_SEG else "") +
        " --pseudo-overlays {input.pseudo_overlays:q} --answers {input.answers:q} --corpus {input.corpus:q}"
        " --model-scores {input.model_scores:q}"
        " --benchmarks {params.benchmarks:q} --stage-metrics {params.stage_metrics:q} --rule-order {params.rules}"
        " --miou {output.miou:q} --ablation {output.ablation:q} --per-class-iou {output.per_class_iou:q}"
        " --threshold-sweep {output.threshold_sweep:q} --cam-montage {output.cam_overlays:q}"
        " --label-montage {output.label_overlays:q} --vqa-samples {output.vqa_samples:q}"
        " --stage-resources {output.stage_resources:q}"
        + "".join(f" --training-chart {{output.{name}:q}} {{params.{name}:q}}" for name in TRAINING_CURVES) +
        " > {log:q} 2>&1")
