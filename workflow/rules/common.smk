# Helpers that the rule files share (output locations, stage commands, rerun triggers), and no rules.
import json
import shlex
import sys

from snakemake.settings.types import DeploymentMethod

sys.path.insert(0, workflow.basedir)

from qaclims.config import (
    answerer_config,
    answerer_network,
    check_answerers,
    check_extra_splits,
    check_replicates,
    check_variants,
    replicate_config,
    ritc_variants,
    subset,
    vqa_answerers,
)
from qaclims.run_layout import (
    REPLICATE_PATTERN,
    check_output_dir,
    clip_model_spec,
    dataset_root,
    demo_file_keys,
    demo_model_paths,
    replicate_name,
    replicate_of,
    vqa_model_source,
    with_demo_files,
)
from qaclims.stage_keys import stage_keys
from qaclims.vqa.sources import is_original_checkpoint
from qaclims.runtime.provenance import code_hash


OUT = config["output_dir"]
# What the schema cannot say, checked before any job runs: that the output folder can be one, each ablation
# variant's merged ritc section, that the extra evaluation splits are indexed, and that no cam.seed competes
# with the replicates.
check_output_dir(OUT)
check_variants(config)
check_answerers(config)
check_extra_splits(config)
check_replicates(config)
# The evaluation stages run only for splits with masks (dataset.mask_splits), and are left out of the DAG elsewhere:
# eval_cam and eval_pseudo score eval_cam.split, eval_seg scores infer_seg.split. Without CAM scores, cam_overlays and
# label_overlays draw the report's overlays, and the ablation variants, which only a score compares, do not train.
SCORES_CAMS = config["eval_cam"]["split"] in config["dataset"]["mask_splits"]
SCORES_SEG = config["infer_seg"]["split"] in config["dataset"]["mask_splits"]
VARIANTS = list(ritc_variants(config)) if SCORES_CAMS else []
# The answerers of vqa.answerers: each answers and builds a corpus; where CAMs are scored, a QA-CLIMS network trains
# on that corpus (answerer_<name>), as a variant does.
ANSWERERS = list(vqa_answerers(config))
ANSWERER_OF_NETWORK = {answerer_network(name): name for name in ANSWERERS} if SCORES_CAMS else {}
# The CAM networks that make_cam and eval_cam serve: those of make_cam.networks, the ablation variants, the answerers'.
EVALUATED_NETWORKS = [*config["make_cam"]["networks"], *VARIANTS, *ANSWERER_OF_NETWORK]
# The networks that train_ritc trains beside QA-CLIMS: the ablation variants and the answerers'.
RITC_ALTERNATIVES = [*VARIANTS, *ANSWERER_OF_NETWORK]
ANSWERER = "|".join(ANSWERERS) or "(?!)"  # a pattern that matches nothing when there is no answerer
# The training seeds. Each CAM network trains once per seed, the first seed's under the network's name, another
# seed's as the replicate name seed-<s>/<network> (qaclims.run_layout), which the {network} wildcard of the CAM
# rules holds. Only scores compare the seeds, so a run that scores no CAMs trains the first alone.
REPLICATES = config["replicates"] if SCORES_CAMS else config["replicates"][:1]
FURTHER_SEEDS = REPLICATES[1:]


def replicates(networks, seeds=REPLICATES):
    """The replicate names of ``networks`` for ``seeds``, seed by seed."""
    return [replicate_name(network, seed, REPLICATES) for seed in seeds for network in networks]


# Wildcard constraints: every network, and those that train_cam (the baseline) and train_ritc (QA-CLIMS, its
# variants and the answerers') train, each of any seed.
RITC_NETWORKS = ["ritc", *RITC_ALTERNATIVES]
ANY_NETWORK = f"{REPLICATE_PATTERN}(?:{'|'.join(['baseline', *RITC_NETWORKS])})"
BASELINE_NETWORK = f"{REPLICATE_PATTERN}baseline"
RITC_NETWORK = f"{REPLICATE_PATTERN}(?:{'|'.join(RITC_NETWORKS)})"
DATASET_ROOT = dataset_root(config)
DEMO_MODELS = demo_model_paths(OUT)
# The file keys that name a demo stand-in (cam.backbone_weights: demo, ...). From here on they hold the stand-in's
# path, so that a stage reads a plain path and a rule can list the file as an input.
DEMO_FILE_KEYS = demo_file_keys(config)
config.update(with_demo_files(config))
# The models as the stages get them: the demo's are files of this run, real ones hub ids or paths.
VQA_MODEL = vqa_model_source(config)
CLIP_ARGUMENTS = " ".join(
    f"{flag} {shlex.quote(value)}"
    for flag, value in zip(("--clip-model", "--clip-pretrained", "--clip-config-dir"), clip_model_spec(config))
    if value is not None
)
CONDA_ENV = "../../envs/qaclims.yaml"  # relative to the rule files
# Jobs run the interpreter that runs Snakemake, which has the dependencies, unless a
# conda environment provides them. The package is imported from this checkout in every
# job, also under --directory and in a conda environment that holds only the dependencies.
# They reach the jobs' shell commands as environment variables rather than as text: Snakemake keys the
# rerun trigger "code" and its output cache on a rule's shell command, and neither should change when the
# checkout or the interpreter moves. A job's own Snakemake, on a cluster node, sets them again.
_deployment = workflow.deployment_settings.deployment_method if workflow.deployment_settings else ()
os.environ.update(
    QACLIMS_PYTHON="python" if DeploymentMethod.CONDA in _deployment else sys.executable,
    QACLIMS_CHECKOUT=workflow.basedir,
)
_PYTHON = 'PYTHONPATH="$QACLIMS_CHECKOUT" "$QACLIMS_PYTHON"'


def stage_code(stage):
    """Hash of the stage module and the package code it imports: editing it reruns the stage."""
    return code_hash([f"qaclims.stages.{stage}"], workflow.basedir)


def stage_config(stage, per_network=False):
    """The config keys the stage declares in qaclims/stage_keys.py, as JSON: changing any of them reruns it.

    It is returned as a function of the wildcards so that Snakemake does not read
    placeholders such as "{split}" in config values as wildcards. With ``per_network``, the keys are those of
    the job's {network} wildcard, a replicate of the baseline, QA-CLIMS, an ablation variant or an answerer's
    network, with its seed as
    cam.seed (qaclims.config.replicate_config), so that adding, changing or removing one variant or seed
    touches its jobs alone.
    """
    keys = stage_keys(stage)
    if per_network:
        return lambda wildcards: json.dumps(
            subset(replicate_config(config, *replicate_of(wildcards.network, REPLICATES)), keys), sort_keys=True)
    text = json.dumps(subset(config, keys), sort_keys=True)
    return lambda wildcards: text


def answerer_stage_config(stage):
    """stage_config of a VQA stage of the main answerer, or of the job's {answerer} wildcard: its vqa section
    merged from vqa.answerers (qaclims.config.answerer_config), without the answerers, so that adding, changing
    or removing one answerer touches that answerer's jobs alone."""
    keys = stage_keys(stage)
    return lambda wildcards: json.dumps(
        subset(answerer_config(config, wildcards.get("answerer")), keys), sort_keys=True)


# Where the answers and corpus of the job's {answerer} go; the main answerer's go to the run's own vqa and corpus.
ANSWERER_FOLDER = f"{OUT}/answerers/{{answerer}}"


def answerer_model(answerer=None):
    """The vqa.model of ``answerer`` (None for the main one) as the stage gets it."""
    return vqa_model_source(answerer_config(config, answerer))


def answerer_model_input(answerer=None):
    """The demo model or an original BLIP checkpoint file; a hub id or a save_pretrained folder is not tracked."""
    source = answerer_model(answerer)
    demo = answerer_config(config, answerer)["vqa"]["model"] == "demo"
    return [source] if demo or is_original_checkpoint(source) else []


def answerer_shards(answerer):
    return range(answerer_config(config, answerer)["vqa"]["shards"])


def corpus_file(network, name):
    """The corpus file ``name`` that CAM network ``network`` (of any seed) trains on: its answerer's, else the main
    answerer's."""
    answerer = ANSWERER_OF_NETWORK.get(replicate_of(network, REPLICATES)[0])
    return f"{ANSWERER_FOLDER.format(answerer=answerer) if answerer else OUT}/corpus/{name}"


def replicate_baseline(wildcards):
    """The baseline weights that the {network} replicate of QA-CLIMS or a variant starts from: those of its seed."""
    return f"{OUT}/cam/{replicate_name('baseline', replicate_of(wildcards.network, REPLICATES)[1], REPLICATES)}.pt"


def cam_architecture(wildcards):
    """The network class of the {network} replicate's weights: a variant or an answerer's is a QA-CLIMS network."""
    return "baseline" if replicate_of(wildcards.network, REPLICATES)[0] == "baseline" else "ritc"


def log_path(rule_name):
    return f"{OUT}/logs/{rule_name}.log"


def benchmark_path(rule_name):
    return f"{OUT}/benchmarks/{rule_name}.tsv"


# The folder that the index reads: a folder dataset's prepared copy (photos upright, RGB, capped), otherwise the
# dataset itself.
INDEXED_ROOT = f"{OUT}/data/prepared" if config["dataset"]["kind"] == "folder" else DATASET_ROOT


def dataset_inputs(wildcards):
    """The files that define the dataset: a change to any of them rebuilds the index."""
    dataset = config["dataset"]
    if dataset["kind"] in ("demo", "folder"):
        return [INDEXED_ROOT]
    if dataset["kind"] == "voc12":
        pattern = dataset["voc_split_list"]
    else:
        pattern = dataset["coco_annotations"]
    return [os.path.join(DATASET_ROOT, pattern.format(split=split)) for split in dataset["splits"]]


# Snakemake's between-workflow output cache (`--cache`, with $SNAKEMAKE_OUTPUT_CACHE) for the deterministic,
# costly stages (vqa, corpus). They are marked cacheable only under --cache, as Snakemake warns about every
# cacheable rule of a run without it. Snakemake refuses a cached rule that has a benchmark, because a result
# taken from the cache has no run to measure, and a directive cannot be left out by a condition, so those
# rules have no benchmark, with --cache or without.
OUTPUT_CACHE = workflow.workflow_settings.cache is not None


def demo_model_input(section, model):
    """The demo model folder a rule reads when config section ``section`` uses the demo model."""
    return [DEMO_MODELS[model]] if config[section]["model"] == "demo" else []


def demo_file_input(key):
    """The stand-in file that the dotted config ``key`` names, as an input of the rules whose stage reads it."""
    section, name = key.split(".")
    return [config[section][name]] if key in DEMO_FILE_KEYS else []


def segmentation_shards(split, variant):
    """The shard folders of the segmentation of ``split``, ``variant`` "raw" or "crf"."""
    return expand(f"{OUT}/seg/{split}/{variant}/shard-{{shard}}", shard=range(config["infer_seg"]["shards"]))


def cpu_stage(stage_command):
    """The shell command of a CPU job, ``stage_command`` being a qaclims command with Snakemake's {input}-style
    placeholders. The job sees no GPU, so that it never takes one from the GPU jobs it runs beside."""
    return f"CUDA_VISIBLE_DEVICES= {_PYTHON} -m qaclims {stage_command}"


def metered_logs(job):
    """The log files of a job that measures itself (a GPU job, or corpus), ``job`` naming the job as a log path does
    ("make_cam/{network}-shard-{shard}"): its output and its metrics (throughput, peak GPU and resident memory),
    which the report reads next to the benchmark records. Logs and not outputs, so that a run without them (the
    output cache's, an older version's) reruns nothing."""
    return {"stage": log_path(job), "metrics": f"{OUT}/logs/{job}.metrics.json"}


def gpu_job_threads(gpus):
    """The threads of a GPU job: 4 per GPU (data loading), which the Slurm profile's `cpus_per_gpu` allocates,
    or cpu_threads where device is cpu, as the job then keeps about one core busy whatever it reserves."""
    return config["cpu_threads"] if config["device"] == "cpu" else 4 * gpus


def curve_path(job):
    """The training curve table that the training ``job`` (named as in ``metered_logs``) writes, and the report
    reads."""
    return f"{OUT}/logs/{job}.curve.csv"


def training_logs(job):
    """A training job's log files: those of every metered job, and its curve table."""
    return {**metered_logs(job), "curve": curve_path(job)}


def gpu_stage(gpus, stage_command):
    """The shell command of a GPU job: pinned to GPUs of its own, and torchrun with one process per GPU when
    there are several. The rule's `gpu` resource is the same ``gpus``, and its threads ``gpu_job_threads``.
    The rule's log files are ``metered_logs``; the stage writes both."""
    pinned = f'{_PYTHON} -m qaclims.runtime.on_gpus --gpus {gpus} -- "$QACLIMS_PYTHON"'
    logged = f"{stage_command} --metrics {{log.metrics:q}} > {{log.stage:q}} 2>&1"
    if gpus <= 1:
        return f"{pinned} -m qaclims {logged}"
    return f"{pinned} -m torch.distributed.run --standalone --nproc_per_node={gpus} -m qaclims {logged}"


def training_stage(gpus, stage_command):
    """The shell command of a training job: a GPU job (``gpu_stage``) that writes its curve to its log
    ``curve`` (``training_logs``) and to its TensorBoard folder, the param ``tensorboard``
    (`tensorboard/<rule>/<network>`, which Snakemake does not own, as it does not own the checkpoints)."""
    return gpu_stage(gpus, f"{stage_command} --curve {{log.curve:q}} --tensorboard {{params.tensorboard:q}}")


def training_chart(rule_name, figure):
    """The report entry of the chart of the training curves of ``rule_name``, captioned ``figure``."""
    return report(f"{OUT}/report/training/{rule_name}.svg", caption="../report/training.rst", category="Training",
                  labels={"figure": figure})


def minutes_per_attempt(minutes):
    """A time limit that grows with each retry, so that a job stopped at its limit gets longer the next time."""
    return lambda wildcards, attempt: minutes * attempt
