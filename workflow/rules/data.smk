# Dataset: the synthetic demo or a folder dataset's prepared photos (when configured), the checked index, and a
# report on it.


if config["dataset"]["kind"] == "demo":

    rule demo_data:
        output:
            root=directory(DATASET_ROOT),
        params:
            config=stage_config("demo_data"),
            code=stage_code("demo_data"),
        log:
            log_path("demo_data"),
        benchmark:
            benchmark_path("demo_data")
        threads: 1
        resources:
            mem_mb=1000,
        conda:
            CONDA_ENV
        shell:
            cpu_stage("demo-data --config {params.config:q} --out {output.root:q} > {log:q} 2>&1")


if config["dataset"]["kind"] == "folder":

    rule prepare_images:
        input:
            labels=os.path.join(DATASET_ROOT, "labels.csv"),
        output:
            root=directory(INDEXED_ROOT),
        params:
            config=stage_config("prepare_images"),
            code=stage_code("prepare_images"),
            root=lambda wildcards, input: os.path.dirname(input.labels),
        log:
            log_path("prepare_images"),
        benchmark:
            benchmark_path("prepare_images")
        threads: 4
        resources:
            mem_mb=4000,
        conda:
            CONDA_ENV
        shell:
            cpu_stage("prepare-images --config {params.config:q} --root {params.root:q} --out {output.root:q}"
            " --threads {threads} > {log:q} 2>&1")


rule index:
    input:
        dataset_inputs,
    output:
        index=f"{OUT}/data/index.parquet",
    params:
        config=stage_config("index"),
        code=stage_code("index"),
        root=INDEXED_ROOT,
    log:
        log_path("index"),
    benchmark:
        benchmark_path("index")
    threads: 4
    resources:
        mem_mb=4000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("index --config {params.config:q} --root {params.root:q} --out {output.index:q} --threads {threads} > {log:q} 2>&1")


rule dataset_report:
    input:
        index=rules.index.output.index,
    output:
        counts=report(
            f"{OUT}/data/report/class_counts.csv",
            caption="../report/class_counts.rst",
            category="Dataset",
        ),
        montage=report(
            f"{OUT}/data/report/montage.png",
            caption="../report/montage.rst",
            category="Dataset",
        ),
    params:
        config=stage_config("dataset_report"),
        code=stage_code("dataset_report"),
    log:
        log_path("dataset_report"),
    benchmark:
        benchmark_path("dataset_report")
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        CONDA_ENV
    shell:
        cpu_stage("dataset-report --config {params.config:q} --index {input.index:q}"
        " --counts {output.counts:q} --montage {output.montage:q} > {log:q} 2>&1")
