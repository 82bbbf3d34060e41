# The answers to the foreground and background questions, in shards, then merged: the main answerer's (vqa.model),
# then each answerer's of vqa.answerers into answerers/<name>/vqa.

rule vqa:
    input:
        index=rules.index.output.index,
        model=answerer_model_input(),
    output:
        answers=f"{OUT}/vqa/shard-{{shard}}.parquet",
    wildcard_constraints:
        shard=r"\d+",
    params:
        config=answerer_stage_config("vqa"),
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


use rule vqa as answerer_vqa with:
    input:
        index=rules.index.output.index,
        model=lambda wildcards: answerer_model_input(wildcards.answerer),
    output:
        answers=f"{ANSWERER_FOLDER}/vqa/shard-{{shard}}.parquet",
    wildcard_constraints:
        answerer=ANSWERER,
        shard=r"\d+",
    params:
        config=answerer_stage_config("vqa"),
        code=stage_code("vqa"),
        model=lambda wildcards: answerer_model(wildcards.answerer),
        shards=lambda wildcards: len(answerer_shards(wildcards.answerer)),
        shard="{shard}",
    log:
        **metered_logs("answerers/{answerer}/vqa/shard-{shard}"),


use rule vqa_merge as answerer_vqa_merge with:
    input:
        shards=lambda wildcards: expand(rules.answerer_vqa.output.answers, answerer=wildcards.answerer,
                                        shard=answerer_shards(wildcards.answerer)),
    output:
        answers=f"{ANSWERER_FOLDER}/vqa/answers.parquet",
    wildcard_constraints:
        answerer=ANSWERER,
    log:
        log_path("answerers/{answerer}/vqa_merge"),
    benchmark:
        benchmark_path("answerers/{answerer}/vqa_merge")
