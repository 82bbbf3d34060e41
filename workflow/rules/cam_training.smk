# CAM training: the baseline classifier, then QA-CLIMS's region image-text contrastive training.
# Checkpoints go to a folder Snakemake does not own, so a killed job resumes instead of restarting.


# One job per seed of `replicates` (cam/baseline.pt for the first, cam/seed-<s>/baseline.pt for another).
rule train_cam:
    input:
        index=rules.index.output.index,
        backbone=demo_file_input("cam.backbone_weights"),
    output:
        weights=f"{OUT}/cam/{{network}}.pt",
    wildcard_constraints:
        network=BASELINE_NETWORK,
    params:
        config=stage_config("train_cam", per_network=True),
        code=stage_code("train_cam"),
        checkpoints=f"{OUT}/checkpoints/train_cam/{{network}}",
        tensorboard=f"{OUT}/tensorboard/train_cam/{{network}}",
    log:
        **training_logs("train_cam/{network}"),
    benchmark:
        f"{OUT}/benchmarks/train_cam/{{network}}.tsv"
    threads: gpu_job_threads(config["cam"]["baseline"]["gpus"])
    resources:
        gpu=config["cam"]["baseline"]["gpus"],
        mem_mb=16000,
        runtime=minutes_per_attempt(600),
    conda:
        CONDA_ENV
    shell:
        training_stage(config["cam"]["baseline"]["gpus"], "train-cam --config {params.config:q}"
        " --index {input.index:q} --out {output.weights:q} --checkpoint-dir {params.checkpoints:q} --threads {threads}")


# One job per network: QA-CLIMS (cam/ritc.pt) and each ablation variant of ritc.variants (cam/<variant>.pt), each
# with its own merged ritc section, and QA-CLIMS on each answerer's corpus (cam/answerer_<name>.pt); each per seed of
# `replicates` (cam/seed-<s>/ritc.pt from cam/seed-<s>/baseline.pt for a seed other than the first). Only the first
# seed's cam/ritc.pt feeds the pseudo labels.
rule train_ritc:
    input:
        index=rules.index.output.index,
        baseline=replicate_baseline,
        # The main answerer's corpus, or for an answerer's network (vqa.answerers) that answerer's.
        corpus=lambda wildcards: corpus_file(wildcards.network, "corpus.parquet"),
        features=lambda wildcards: corpus_file(wildcards.network, "text_features.safetensors"),
        model=demo_model_input("clip", "clip_dir"),
        # An input, so that a wrong path fails the dry run rather than this job, hours into a run.
        mask_prompt_checkpoint=[config["ritc"]["ovseg_checkpoint"]] if config["ritc"]["ovseg_checkpoint"] else [],
    output:
        weights=f"{OUT}/cam/{{network}}.pt",
    wildcard_constraints:
        network=RITC_NETWORK,
    params:
        config=stage_config("train_ritc", per_network=True),
        code=stage_code("train_ritc"),
        clip=CLIP_ARGUMENTS,
        # A folder per network: two networks of the same config would otherwise share a checkpoint.
        checkpoints=f"{OUT}/checkpoints/train_ritc/{{network}}",
        tensorboard=f"{OUT}/tensorboard/train_ritc/{{network}}",
    log:
        **training_logs("train_ritc/{network}"),
    benchmark:
        f"{OUT}/benchmarks/train_ritc/{{network}}.tsv"
    threads: gpu_job_threads(config["ritc"]["gpus"])
    resources:
        gpu=config["ritc"]["gpus"],
        mem_mb=32000,
        runtime=minutes_per_attempt(1440),
    conda:
        CONDA_ENV
    shell:
        training_stage(config["ritc"]["gpus"], "train-ritc --config {params.config:q} {params.clip}"
        " --index {input.index:q} --baseline {input.baseline:q} --corpus {input.corpus:q} --features {input.features:q}"
        " --out {output.weights:q} --checkpoint-dir {params.checkpoints:q} --threads {threads}")
