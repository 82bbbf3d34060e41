# Tiny random-weight models for the demo, written in the real formats.


if config["vqa"]["model"] == "demo":

    rule demo_blip:
        output:
            model=directory(DEMO_MODELS["blip"]),
        params:
            config=stage_config("demo_models.seed", "demo_models.blip_image_size"),
            code=stage_code("demo_models"),
        log:
            log_path("demo_blip"),
        benchmark:
            benchmark_path("demo_blip")
        threads: 1
        resources:
            mem_mb=2000,
        conda:
            CONDA_ENV
        shell:
            "{QACLIMS} demo-models --config {params.config:q} --blip-out {output.model:q} > {log:q} 2>&1"


if config["clip"]["model"] == "demo":

    rule demo_clip:
        output:
            model=directory(DEMO_MODELS["clip_dir"]),
        params:
            config=stage_config("demo_models.seed", "demo_models.clip_image_size"),
            code=stage_code("demo_models"),
        log:
            log_path("demo_clip"),
        benchmark:
            benchmark_path("demo_clip")
        threads: 1
        resources:
            mem_mb=2000,
        conda:
            CONDA_ENV
        shell:
            "{QACLIMS} demo-models --config {params.config:q} --clip-out {output.model:q} > {log:q} 2>&1"
