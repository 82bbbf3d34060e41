# The final segmentation: DeepLab trained on the pseudo labels, multi-scale inference with and
# without CRF, its mIoU, and test-split predictions for the evaluation server.


rule train_seg:
    input:
        index=rules.index.output.index,
        backbone=demo_file_input("seg.backbone_weights"),
        labels=PSEUDO_LABELS,
    output:
        weights=f"{OUT}/seg/deeplab.pt",
    params:
        config=stage_config("train_seg"),
        code=stage_code("train_seg"),
        checkpoints=f"{OUT}/checkpoints/train_seg",
        tensorboard=f"{OUT}/tensorboard/train_seg/deeplab",
    log:
        **training_logs("train_seg"),
    benchmark:
        benchmark_path("train_seg")
    threads: gpu_job_threads(config["seg"]["gpus"])
    resources:
        gpu=config["seg"]["gpus"],
        mem_mb=32000,
        runtime=minutes_per_attempt(1440),
    conda:
        CONDA_ENV
    shell:
        training_stage(config["seg"]["gpus"], "train-seg --config {params.config:q} --index {input.index:q}"
        " --labels {input.labels:q} --out {output.weights:q} --checkpoint-dir {params.checkpoints:q}"
        " --threads {threads}")


rule infer_seg:
    input:
        index=rules.index.output.index,
        weights=rules.train_seg.output.weights,
    output:
        raw=directory(f"{OUT}/seg/{{split}}/raw/shard-{{shard}}"),
        crf=directory(f"{OUT}/seg/{{split}}/crf/shard-{{shard}}"),
    wildcard_constraints:
        shard=r"\d+",
    params:
        config=stage_config("infer_seg"),
        code=stage_code("infer_seg"),
        shards=config["infer_seg"]["shards"],
    log:
        **metered_logs("infer_seg/{split}-shard-{shard}"),
    benchmark:
        f"{OUT}/benchmarks/infer_seg/{{split}}-shard-{{shard}}.tsv"
    threads: gpu_job_threads(1)
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=minutes_per_attempt(240),
    conda:
        CONDA_ENV
    shell:
        gpu_stage(1, "infer-seg --config {params.config:q} --index {input.index:q} --weights {input.weights:q}"
        " --split {wildcards.split} --shard {wildcards.shard} --num-shards {params.shards}"
        " --out {output.raw:q} --crf-out {output.crf:q} --threads {threads}")


rule eval_seg:
    input:
        index=rules.index.output.index,
        raw=segmentation_shards(config["infer_seg"]["split"], "raw"),
        crf=segmentation_shards(config["infer_seg"]["split"], "crf"),
    output:
        summary=report(f"{OUT}/eval/seg.json", caption="../report/eval_seg.rst", category="Segmentation",
                       labels={"file": "summary"}),
        per_class=report(f"{OUT}/eval/seg_per_class.csv", caption="../report/eval_seg.rst",
                         category="Segmentation", labels={"file": "per class"}),
    params:
        config=stage_config("eval_seg"),
        code=stage_code("eval_seg"),
    log:
        log_path("eval_seg"),
    benchmark:
        benchmark_path("eval_seg")
    threads: 1
    resources:
        mem_mb=8000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("eval-seg --config {params.config:q} --index {input.index:q} --predictions {input.raw:q}"
        " --crf-predictions {input.crf:q} --summary {output.summary:q} --per-class {output.per_class:q} > {log:q} 2>&1")


rule seg_submission:
    input:
        index=rules.index.output.index,
        crf=segmentation_shards(config["infer_seg"]["test_split"], "crf") if config["infer_seg"]["test_split"] else [],
    output:
        folder=directory(f"{OUT}/seg/submission"),
    params:
        config=stage_config("seg_submission"),
        code=stage_code("seg_submission"),
    log:
        log_path("seg_submission"),
    benchmark:
        benchmark_path("seg_submission")
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("seg-submission --config {params.config:q} --index {input.index:q} --predictions {input.crf:q}"
        " --out {output.folder:q} > {log:q} 2>&1")


if config["predict"]["images"]:

    rule predict:
        input:
            weights=rules.train_seg.output.weights,
            images=config["predict"]["images"],
        output:
            folder=directory(f"{OUT}/predict"),
        params:
            config=stage_config("predict"),
            code=stage_code("predict"),
        log:
            **metered_logs("predict"),
        benchmark:
            benchmark_path("predict")
        threads: gpu_job_threads(1)
        resources:
            gpu=1,
            mem_mb=16000,
            runtime=minutes_per_attempt(240),
        conda:
            CONDA_ENV
        shell:
            gpu_stage(1, "predict --config {params.config:q} --weights {input.weights:q} --images {input.images:q}"
            " --out {output.folder:q} --threads {threads}")
