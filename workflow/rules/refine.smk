# IRNet's refinement of the CAMs into pseudo labels: seed labels (dense CRF), the boundary
# network, the random walk, and the pseudo labels' mIoU.

PIPELINE_CAMS = expand(f"{OUT}/cam/{config['ir_label']['network']}/maps/shard-{{shard}}",
                       shard=range(config["make_cam"]["shards"]))
IR_LABELS = expand(f"{OUT}/ir_label/shard-{{shard}}", shard=range(config["ir_label"]["shards"]))
PSEUDO_LABELS = expand(f"{OUT}/pseudo_label/shard-{{shard}}", shard=range(config["pseudo_label"]["shards"]))


rule ir_label:
    input:
        index=rules.index.output.index,
        cams=PIPELINE_CAMS,
    output:
        labels=directory(f"{OUT}/ir_label/shard-{{shard}}"),
    wildcard_constraints:
        shard=r"\d+",
    params:
        config=stage_config("ir_label"),
        code=stage_code("ir_label"),
        shards=config["ir_label"]["shards"],
    log:
        f"{OUT}/logs/ir_label/shard-{{shard}}.log",
    benchmark:
        f"{OUT}/benchmarks/ir_label/shard-{{shard}}.tsv"
    threads: config["ir_label"]["threads"]
    resources:
        mem_mb=8000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("ir-label --config {params.config:q} --index {input.index:q} --cams {input.cams:q}"
        " --shard {wildcards.shard} --num-shards {params.shards} --out {output.labels:q} --threads {threads}"
        " > {log:q} 2>&1")


rule train_irn:
    input:
        index=rules.index.output.index,
        backbone=demo_file_input("cam.backbone_weights"),
        labels=IR_LABELS,
    output:
        weights=f"{OUT}/irn/irn.pt",
    params:
        config=stage_config("train_irn"),
        code=stage_code("train_irn"),
        checkpoints=f"{OUT}/checkpoints/train_irn",
        tensorboard=f"{OUT}/tensorboard/train_irn/irn",
    log:
        **training_logs("train_irn"),
    benchmark:
        benchmark_path("train_irn")
    threads: gpu_job_threads(config["irn"]["gpus"])
    resources:
        gpu=config["irn"]["gpus"],
        mem_mb=16000,
        runtime=minutes_per_attempt(240),
    conda:
        CONDA_ENV
    shell:
        training_stage(config["irn"]["gpus"], "train-irn --config {params.config:q} --index {input.index:q}"
        " --labels {input.labels:q} --out {output.weights:q} --checkpoint-dir {params.checkpoints:q}"
        " --threads {threads}")


rule pseudo_label:
    input:
        index=rules.index.output.index,
        cams=PIPELINE_CAMS,
        weights=rules.train_irn.output.weights,
    output:
        labels=directory(f"{OUT}/pseudo_label/shard-{{shard}}"),
    wildcard_constraints:
        shard=r"\d+",
    params:
        config=stage_config("pseudo_label"),
        code=stage_code("pseudo_label"),
        shards=config["pseudo_label"]["shards"],
    log:
        **metered_logs("pseudo_label/shard-{shard}"),
    benchmark:
        f"{OUT}/benchmarks/pseudo_label/shard-{{shard}}.tsv"
    threads: gpu_job_threads(1)
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=minutes_per_attempt(240),
    conda:
        CONDA_ENV
    shell:
        gpu_stage(1, "pseudo-label --config {params.config:q} --index {input.index:q} --cams {input.cams:q}"
        " --weights {input.weights:q} --shard {wildcards.shard} --num-shards {params.shards}"
        " --out {output.labels:q} --threads {threads}")


rule eval_pseudo:
    input:
        index=rules.index.output.index,
        labels=PSEUDO_LABELS,
        seeds=IR_LABELS,
    output:
        summary=report(f"{OUT}/eval/pseudo.json", caption="../report/eval_pseudo.rst", category="Pseudo labels",
                       labels={"file": "summary"}),
        per_class=report(f"{OUT}/eval/pseudo_per_class.csv", caption="../report/eval_pseudo.rst",
                         category="Pseudo labels", labels={"file": "per class"}),
        overlays=directory(f"{OUT}/eval/pseudo_overlays"),
    params:
        config=stage_config("eval_pseudo"),
        code=stage_code("eval_pseudo"),
    log:
        log_path("eval_pseudo"),
    benchmark:
        benchmark_path("eval_pseudo")
    threads: 1
    resources:
        mem_mb=8000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("eval-pseudo --config {params.config:q} --index {input.index:q} --labels {input.labels:q}"
        " --seeds {input.seeds:q} --summary {output.summary:q} --per-class {output.per_class:q}"
        " --overlays {output.overlays:q} > {log:q} 2>&1")


rule label_overlays:
    input:
        index=rules.index.output.index,
        labels=PSEUDO_LABELS,
        seeds=IR_LABELS,
    output:
        overlays=directory(f"{OUT}/overlays/labels"),
    params:
        config=stage_config("label_overlays"),
        code=stage_code("label_overlays"),
    log:
        log_path("label_overlays"),
    benchmark:
        benchmark_path("label_overlays")
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("label-overlays --config {params.config:q} --index {input.index:q} --labels {input.labels:q}"
        " --seeds {input.seeds:q} --out {output.overlays:q} > {log:q} 2>&1")


rule export:
    input:
        index=rules.index.output.index,
        labels=PSEUDO_LABELS,
    output:
        folder=directory(f"{OUT}/export"),
    params:
        config=stage_config("export_labels"),
        code=stage_code("export_labels"),
    log:
        log_path("export"),
    benchmark:
        benchmark_path("export")
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("export-labels --config {params.config:q} --index {input.index:q} --labels {input.labels:q}"
        " --out {output.folder:q} > {log:q} 2>&1")
