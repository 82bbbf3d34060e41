# Cleaned answer texts per (image, class) and their CLIP text features. The class labels are encoded with the
# text tower of ritc.ovseg_checkpoint when it holds one, as the reference encodes them.


rule corpus:
    input:
        answers=rules.vqa_merge.output.answers,
        index=rules.index.output.index,
        model=demo_model_input("clip", "clip_dir"),
        label_text_tower=[config["ritc"]["ovseg_checkpoint"]] if config["ritc"]["ovseg_checkpoint"] else [],
    output:
        corpus=f"{OUT}/corpus/corpus.parquet",
        features=f"{OUT}/corpus/text_features.safetensors",
        text_index=f"{OUT}/corpus/text_index.parquet",
    params:
        config=stage_config("corpus"),
        code=stage_code("corpus"),
        clip=CLIP_ARGUMENTS,
    log:
        **metered_logs("corpus"),
    # No benchmark: the rule is cacheable (see OUTPUT_CACHE). The stage's metrics file gives its time and memory.
    cache: OUTPUT_CACHE
    threads: 2
    resources:
        mem_mb=8000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("corpus --config {params.config:q} --answers {input.answers:q} --index {input.index:q}"
        " --corpus {output.corpus:q} --features {output.features:q} --text-index {output.text_index:q}"
        " {params.clip} --threads {threads} --metrics {log.metrics:q} > {log.stage:q} 2>&1")
