# Helpers shared by the rule files: output locations, stage commands, rerun triggers.
import json
import shlex
import sys

from snakemake.settings.types import DeploymentMethod

sys.path.insert(0, workflow.basedir)

from qaclims.config import dataset_root, demo_model_paths, subset
from qaclims.provenance import code_hash


OUT = config["output_dir"]
DATASET_ROOT = dataset_root(config)
DEMO_MODELS = demo_model_paths(OUT)
CONDA_ENV = "../../envs/qaclims.yaml"  # relative to the rule files
# Jobs run the interpreter that runs Snakemake, which has the dependencies, unless a
# conda environment provides them. The package is imported from this checkout in every
# job, also under --directory and in a conda environment that holds only the dependencies.
_deployment = workflow.deployment_settings.deployment_method if workflow.deployment_settings else ()
PYTHON = "python" if DeploymentMethod.CONDA in _deployment else shlex.quote(sys.executable)
QACLIMS = f"PYTHONPATH={shlex.quote(workflow.basedir)} {PYTHON} -m qaclims"


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


def demo_model_input(section, model):
    """The demo model folder a rule reads when config section ``section`` uses the demo model."""
    return [DEMO_MODELS[model]] if config[section]["model"] == "demo" else []


def training_launcher(gpus):
    """The stage command for a training job: torchrun with one process per GPU when there are several."""
    if gpus <= 1:
        return QACLIMS
    return (f"PYTHONPATH={shlex.quote(workflow.basedir)} {PYTHON} -m torch.distributed.run --standalone"
            f" --nproc_per_node={gpus} -m qaclims")
