# BLIP answers to the foreground and background questions, in shards, then merged.

from qaclims.vqa.sources import is_original_checkpoint


rule vqa:
    input:
        index=rules.index.output.index,
        # The demo model or an original BLIP checkpoint file; a hub id or a save_pretrained folder is not tracked.
        model=[VQA_MODEL] if config["vqa"]["model"] == "demo" or is_original_checkpoint(VQA_MODEL) else [],
    output:
        answers=f"{OUT}/vqa/shard-{{shard}}.parquet",
    wildcard_constraints:
        shard=r"\d+",
    params:
        config=stage_config("vqa"),
        code=stage_code("vqa"),
        model=lambda wildcards, input: input.model or VQA_MODEL,
        shards=config["vqa"]["shards"],
        # A param, not only a wildcard: the output cache keys a job by its params, not its wildcards.
        shard="{shard}",
    log:
        **metered_logs("vqa/shard-{shard}"),
    # No benchmark: the rule is cacheable (see OUTPUT_CACHE).
    cache: OUTPUT_CACHE
    threads: gpu_job_threads(1)
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=minutes_per_attempt(720),
    conda:
        CONDA_ENV
    shell:
        gpu_stage(1, "vqa --config {params.config:q} --model {params.model:q} --index {input.index:q} --shard {params.shard}"
        " --num-shards {params.shards} --out {output.answers:q}")


rule vqa_merge:
    input:
        shards=expand(f"{OUT}/vqa/shard-{{shard}}.parquet", shard=range(config["vqa"]["shards"])),
    output:
        answers=f"{OUT}/vqa/answers.parquet",
    params:
        code=stage_code("vqa_merge"),
    log:
        log_path("vqa_merge"),
    benchmark:
        benchmark_path("vqa_merge")
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("vqa-merge --shards {input.shards:q} --out {output.answers:q} > {log:q} 2>&1")
