"""VQA answers and the corpus come from Snakemake's between-workflow cache when it is turned on."""

import pytest
from workflow_runs import TINY, copy_checkout, snakemake, write_config

pytestmark = pytest.mark.workflow


def test_a_second_workflow_takes_vqa_and_corpus_from_the_cache(tmp_path):
    # Each run from a checkout of its own: where the checkout lives is no part of a job's cache key.
    checkouts = [copy_checkout(tmp_path / "checkout-1"), copy_checkout(tmp_path / "checkout-2")]
    config = write_config(tmp_path / "tiny.yaml", TINY)
    cache = tmp_path / "cache"
    cache.mkdir()
    environment = {"SNAKEMAKE_OUTPUT_CACHE": str(cache)}
    first, second = tmp_path / "first", tmp_path / "second"
    for checkout, workdir in zip(checkouts, (first, second)):
        workdir.mkdir()
        run = snakemake(checkout, workdir, "--configfile", config, "--cache", "vqa", "corpus", "--until", "corpus",
                        env=environment)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output

    # The first run computed and stored them; the second found them in the cache and ran neither.
    cached = {line.split()[3] for line in output.splitlines() if line.endswith("from cache.")}
    assert cached == {"results/vqa/shard-0.parquet", "results/vqa/shard-1.parquet", "results/corpus/corpus.parquet",
                      "results/corpus/text_features.safetensors", "results/corpus/text_index.parquet"}
    # Their commands never ran: Snakemake only created the empty log files.
    logs = [second / "results/logs/corpus.log", *(second / "results/logs/vqa").glob("*.log")]
    assert len(logs) == 3 and all(log.stat().st_size == 0 for log in logs)
    features = "results/corpus/text_features.safetensors"
    assert (second / features).is_symlink()
    assert (second / features).read_bytes() == (first / features).read_bytes()
    # Each shard has its own entry: the shard is part of the key.
    shards = [first / f"results/vqa/shard-{k}.parquet" for k in range(2)]
    assert shards[0].resolve() != shards[1].resolve()
    assert (second / "results/vqa/answers.parquet").read_bytes() == (first / "results/vqa/answers.parquet").read_bytes()
    # A cached rule keeps no benchmark: a result taken from the cache has no run to measure.
    assert not (first / "results/benchmarks/corpus.tsv").exists()
    assert (first / "results/benchmarks/index.tsv").exists()


def test_without_cache_the_cacheable_rules_are_not_marked_and_still_keep_no_benchmark(tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    config = write_config(tmp_path / "tiny.yaml", TINY)
    workdir = tmp_path / "work"
    workdir.mkdir()
    plan = snakemake(checkout, workdir, "--configfile", config, "--until", "corpus", "--dry-run")
    output = plan.stdout + plan.stderr
    assert plan.returncode == 0, output
    assert "eligible for caching" not in output
    # A rule cannot have a benchmark only without --cache, so the cacheable ones never have one.
    assert "benchmark: results/benchmarks/index.tsv" in output
    assert "benchmark: results/benchmarks/corpus.tsv" not in output
    assert "benchmark: results/benchmarks/vqa/" not in output
