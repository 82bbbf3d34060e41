# Dataset: the synthetic demo (when configured), the checked index, and a report on it.


if config["dataset"]["kind"] == "demo":

    rule demo_data:
        output:
            root=directory(DATASET_ROOT),
        params:
            config=stage_config("demo", "dataset.classes"),
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
            "{QACLIMS} demo-data --config {params.config:q} --out {output.root:q} > {log:q} 2>&1"


rule index:
    input:
        dataset_inputs,
    output:
        index=f"{OUT}/data/index.parquet",
    params:
        config=stage_config("dataset", "output_dir"),
        code=stage_code("index"),
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
        "{QACLIMS} index --config {params.config:q} --out {output.index:q} --threads {threads} > {log:q} 2>&1"


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
        config=stage_config("report.montage_images", "report.montage_split", "report.montage_columns"),
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
        "{QACLIMS} dataset-report --config {params.config:q} --index {input.index:q}"
        " --counts {output.counts:q} --montage {output.montage:q} > {log:q} 2>&1"
