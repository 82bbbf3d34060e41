# Helpers shared by the rule files: output locations, stage commands, rerun triggers.
import fcntl
import json
import shlex
import shutil
import socket
import sys

from snakemake.settings.types import DeploymentMethod

sys.path.insert(0, workflow.basedir)

from qaclims.config import dataset_root, demo_model_paths, subset
from qaclims.provenance import code_hash


def recover_from_a_killed_driver():
    """Remove the lock a killed Snakemake left in the working folder, when no other Snakemake runs there.

    A driver killed outright (SIGKILL, power loss, a lost session) leaves Snakemake's lock behind, and the same
    command then refuses to start until `snakemake --unlock`. Every driver here holds an exclusive lock on a file
    of its own while it lives (the kernel drops it when the process dies), so a driver that gets that lock knows
    that no other driver of this machine runs in this folder, and the Snakemake lock is stale. A lock left by a
    driver on another machine is kept: this machine cannot tell whether that one still runs.
    """
    if not workflow.is_main_process:
        return None  # a job's own Snakemake, on a cluster node
    os.makedirs(".snakemake", exist_ok=True)
    driver_lock = open(os.path.join(".snakemake", "qaclims-driver.lock"), "a+")
    try:
        fcntl.flock(driver_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        driver_lock.close()
        return None  # another driver runs here, and Snakemake's own lock stops this one
    driver_lock.seek(0)
    last_host, host = driver_lock.read().strip(), socket.gethostname()
    stale_locks = os.path.join(".snakemake", "locks")
    if last_host in ("", host) and os.path.isdir(stale_locks) and os.listdir(stale_locks):
        print("qaclims: removing the lock that a killed Snakemake left in this folder", file=sys.stderr)
        shutil.rmtree(stale_locks)
    driver_lock.seek(0)
    driver_lock.truncate()
    driver_lock.write(host)
    driver_lock.flush()
    return driver_lock


# Held open until this Snakemake exits.
DRIVER_LOCK = recover_from_a_killed_driver()

OUT = config["output_dir"]
DATASET_ROOT = dataset_root(config)
DEMO_MODELS = demo_model_paths(OUT)
CONDA_ENV = "../../envs/qaclims.yaml"  # relative to the rule files
# Jobs run the interpreter that runs Snakemake, which has the dependencies, unless a
# conda environment provides them. The package is imported from this checkout in every
# job, also under --directory and in a conda environment that holds only the dependencies.
_deployment = workflow.deployment_settings.deployment_method if workflow.deployment_settings else ()
PYTHON = "python" if DeploymentMethod.CONDA in _deployment else shlex.quote(sys.executable)
_PACKAGE = f"PYTHONPATH={shlex.quote(workflow.basedir)}"
# CPU jobs see no GPU, so that they never take one from the GPU jobs they run beside.
QACLIMS = f"CUDA_VISIBLE_DEVICES= {_PACKAGE} {PYTHON} -m qaclims"


def stage_code(stage):
    """Hash of the stage module and the package code it imports: editing it reruns the stage."""
    return code_hash([f"qaclims.stages.{stage}"], workflow.basedir)


def stage_config(*keys):
    """The config keys a stage reads, as JSON: changing any of them reruns the stage.

    It is returned as a function of the wildcards so that Snakemake does not read
    placeholders such as "{split}" in config values as wildcards.
    """
    text = json.dumps(subset(config, keys), sort_keys=True)
    return lambda wildcards: text


def log_path(rule_name):
    return f"{OUT}/logs/{rule_name}.log"


def benchmark_path(rule_name):
    return f"{OUT}/benchmarks/{rule_name}.tsv"


def dataset_inputs(wildcards):
    """The files that define the dataset: a change to any of them rebuilds the index."""
    dataset = config["dataset"]
    if dataset["kind"] == "demo":
        return [DATASET_ROOT]
    if dataset["kind"] == "voc12":
        pattern = dataset["voc_split_list"]
    else:
        pattern = dataset["coco_annotations"]
    return [os.path.join(DATASET_ROOT, pattern.format(split=split)) for split in dataset["splits"]]


def demo_model_keys(section):
    """output_dir, where the demo models live, when config section ``section`` uses one: real model ids and
    folders do not depend on it, so a run elsewhere can reuse cached outputs."""
    return ["output_dir"] if config[section]["model"] == "demo" else []


# Snakemake's between-workflow output cache (`--cache`, with $SNAKEMAKE_OUTPUT_CACHE) for the deterministic,
# costly stages. Snakemake refuses a cached rule that has a benchmark, because a result taken from the cache
# has no run to measure, so under --cache those rules write none.
OUTPUT_CACHE = workflow.workflow_settings.cache is not None


def benchmark_unless_cached(rule_proxy):
    if OUTPUT_CACHE:
        # No directive can be dropped conditionally; the rule's attribute is the only handle.
        rule_proxy.rule._benchmark = None


def demo_model_input(section, model):
    """The demo model folder a rule reads when config section ``section`` uses the demo model."""
    return [DEMO_MODELS[model]] if config[section]["model"] == "demo" else []


def gpu_stage(gpus):
    """The stage command of a GPU job: pinned to GPUs of its own, and torchrun with one process per GPU when
    there are several. The rule's `gpu` resource is the same ``gpus``, and its threads are 4 per GPU, which
    the Slurm profile's `cpus_per_gpu` allocates."""
    pinned = f"{_PACKAGE} {PYTHON} -m qaclims.on_gpus --gpus {gpus} --"
    if gpus <= 1:
        return f"{pinned} {PYTHON} -m qaclims"
    return f"{pinned} {PYTHON} -m torch.distributed.run --standalone --nproc_per_node={gpus} -m qaclims"


GPU_STAGE = gpu_stage(1)


def minutes_per_attempt(minutes):
    """A time limit that grows with each retry, so that a job stopped at its limit gets longer the next time."""
    return lambda wildcards, attempt: minutes * attempt
