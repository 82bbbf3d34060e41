# CAMs of each trained network (baseline, QA-CLIMS and its ablation variants, each seed of `replicates`), in shards,
# and their seed evaluation.


rule make_cam:
    input:
        index=rules.index.output.index,
        weights=f"{OUT}/cam/{{network}}.pt",
    output:
        cams=directory(f"{OUT}/cam/{{network}}/maps/shard-{{shard}}"),
    wildcard_constraints:
        network=ANY_NETWORK,
        shard=r"\d+",
    params:
        config=stage_config("make_cam"),
        code=stage_code("make_cam"),
        shards=config["make_cam"]["shards"],
        architecture=cam_architecture,
    log:
        **metered_logs("make_cam/{network}-shard-{shard}"),
    benchmark:
        f"{OUT}/benchmarks/make_cam/{{network}}-shard-{{shard}}.tsv"
    threads: gpu_job_threads(1)
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=minutes_per_attempt(360),
    conda:
        CONDA_ENV
    shell:
        gpu_stage(1, "make-cam --config {params.config:q} --index {input.index:q} --weights {input.weights:q}"
        " --network {params.architecture} --shard {wildcards.shard} --num-shards {params.shards}"
        " --out {output.cams:q} --threads {threads}")


rule eval_cam:
    input:
        index=rules.index.output.index,
        cams=expand(f"{OUT}/cam/{{{{network}}}}/maps/shard-{{shard}}", shard=range(config["make_cam"]["shards"])),
    output:
        summary=report(f"{OUT}/eval/{{network}}/cam.json", caption="../report/eval_cam.rst", category="CAM seeds",
                       labels={"network": "{network}", "file": "summary"}),
        per_class=report(f"{OUT}/eval/{{network}}/cam_per_class.csv", caption="../report/eval_cam.rst",
                         category="CAM seeds", labels={"network": "{network}", "file": "per class"}),
        sweep=report(f"{OUT}/eval/{{network}}/cam_sweep.csv", caption="../report/eval_cam.rst",
                     category="CAM seeds", labels={"network": "{network}", "file": "threshold sweep"}),
        overlays=directory(f"{OUT}/eval/{{network}}/cam_overlays"),
    wildcard_constraints:
        network=ANY_NETWORK,
    params:
        config=stage_config("eval_cam"),
        code=stage_code("eval_cam"),
    log:
        f"{OUT}/logs/eval_cam/{{network}}.log",
    benchmark:
        f"{OUT}/benchmarks/eval_cam/{{network}}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("eval-cam --config {params.config:q} --index {input.index:q} --cams {input.cams:q}"
        " --summary {output.summary:q} --per-class {output.per_class:q} --sweep {output.sweep:q}"
        " --overlays {output.overlays:q} > {log:q} 2>&1")


rule cam_overlays:
    input:
        index=rules.index.output.index,
        cams=expand(f"{OUT}/cam/{{{{network}}}}/maps/shard-{{shard}}", shard=range(config["make_cam"]["shards"])),
    output:
        overlays=directory(f"{OUT}/overlays/{{network}}"),
    wildcard_constraints:
        network=ANY_NETWORK,
    params:
        config=stage_config("cam_overlays"),
        code=stage_code("cam_overlays"),
    log:
        f"{OUT}/logs/cam_overlays/{{network}}.log",
    benchmark:
        f"{OUT}/benchmarks/cam_overlays/{{network}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("cam-overlays --config {params.config:q} --index {input.index:q} --cams {input.cams:q}"
        " --out {output.overlays:q} > {log:q} 2>&1")
