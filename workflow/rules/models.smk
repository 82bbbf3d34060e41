# The demo's stand-ins for the pretrained models: tiny models trained on a synthetic world of their own, written in
# the real formats, and a score of how well they know the demo's images.


if config["vqa"]["model"] == "demo":

    rule demo_blip:
        output:
            model=directory(DEMO_MODELS["blip"]),
        params:
            config=stage_config("demo_blip"),
            code=stage_code("demo_blip"),
        log:
            log_path("demo_blip"),
        benchmark:
            benchmark_path("demo_blip")
        threads: 1
        resources:
            mem_mb=3000,
        conda:
            CONDA_ENV
        shell:
            cpu_stage("demo-blip --config {params.config:q} --out {output.model:q} > {log:q} 2>&1")


if config["clip"]["model"] == "demo":

    rule demo_clip:
        output:
            model=directory(DEMO_MODELS["clip_dir"]),
            ovseg=DEMO_MODELS["ovseg"],
        params:
            config=stage_config("demo_clip"),
            code=stage_code("demo_clip"),
        log:
            log_path("demo_clip"),
        benchmark:
            benchmark_path("demo_clip")
        threads: 1
        resources:
            mem_mb=3000,
        conda:
            CONDA_ENV
        shell:
            cpu_stage("demo-clip --config {params.config:q} --out {output.model:q} --ovseg {output.ovseg:q}"
            " > {log:q} 2>&1")


DEMO_BACKBONE = bool({"cam.backbone_weights", "seg.backbone_weights"} & set(DEMO_FILE_KEYS))


if DEMO_BACKBONE:

    rule demo_backbone:
        output:
            weights=DEMO_MODELS["backbone"],
            metrics=DEMO_MODELS["backbone_metrics"],
        params:
            config=stage_config("demo_backbone"),
            code=stage_code("demo_backbone"),
        log:
            log_path("demo_backbone"),
        benchmark:
            benchmark_path("demo_backbone")
        threads: 1
        resources:
            mem_mb=3000,
        conda:
            CONDA_ENV
        shell:
            cpu_stage("demo-backbone --config {params.config:q} --out {output.weights:q}"
            " --metrics {output.metrics:q} > {log:q} 2>&1")


if config["dataset"]["kind"] == "demo":

    rule demo_knowledge:
        input:
            index=f"{OUT}/data/index.parquet",
            dataset=DATASET_ROOT,
            answers=f"{OUT}/vqa/answers.parquet",
            model=demo_model_input("clip", "clip_dir"),
            mask_prompt_checkpoint=[config["ritc"]["ovseg_checkpoint"]] if config["ritc"]["ovseg_checkpoint"] else [],
        output:
            scores=f"{OUT}/eval/demo_models.json",
        params:
            config=stage_config("demo_knowledge"),
            code=stage_code("demo_knowledge"),
            clip=CLIP_ARGUMENTS,
        log:
            log_path("demo_knowledge"),
        benchmark:
            benchmark_path("demo_knowledge")
        threads: 1
        resources:
            mem_mb=2000,
        conda:
            CONDA_ENV
        shell:
            cpu_stage("demo-knowledge --config {params.config:q} {params.clip} --index {input.index:q}"
            " --dataset {input.dataset:q} --answers {input.answers:q} --out {output.scores:q} > {log:q} 2>&1")
