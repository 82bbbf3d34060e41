# Tiny random-weight models for the demo, written in the real formats.


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
            mem_mb=2000,
        conda:
            CONDA_ENV
        shell:
            cpu_stage("demo-blip --config {params.config:q} --out {output.model:q} > {log:q} 2>&1")


if config["clip"]["model"] == "demo":

    rule demo_clip:
        output:
            model=directory(DEMO_MODELS["clip_dir"]),
        params:
            config=stage_config("demo_clip"),
            code=stage_code("demo_clip"),
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
            cpu_stage("demo-clip --config {params.config:q} --out {output.model:q} > {log:q} 2>&1")
