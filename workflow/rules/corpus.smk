# Cleaned answer texts per (image, class) and their CLIP text features.


rule corpus:
    input:
        answers=rules.vqa_merge.output.answers,
        index=rules.index.output.index,
        model=demo_model_input("clip", "clip_dir"),
    output:
        corpus=f"{OUT}/corpus/corpus.parquet",
        features=f"{OUT}/corpus/text_features.safetensors",
        text_index=f"{OUT}/corpus/text_index.parquet",
    params:
        config=stage_config("corpus", "clip", "device", "precision", "output_dir"),
        code=stage_code("corpus"),
    log:
        log_path("corpus"),
    benchmark:
        benchmark_path("corpus")
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    conda:
        CONDA_ENV
    shell:
        "{QACLIMS} corpus --config {params.config:q} --answers {input.answers:q} --index {input.index:q}"
        " --corpus {output.corpus:q} --features {output.features:q} --text-index {output.text_index:q}"
        " > {log:q} 2>&1"
