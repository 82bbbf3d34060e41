"""Train the QA-CLIMS CAM network against a frozen mask-prompt CLIP and the VQA text corpus."""

import os

import pandas as pd
import torch
from safetensors.torch import load_file

from qaclims.config import clip_model_spec
from qaclims.data.index import read_index
from qaclims.errors import QaclimsError
from qaclims.models.cam import QACLIMSNetwork
from qaclims.models.mask_clip import MaskPromptCLIP
from qaclims.ritc import ObjectiveSettings, pair_texts, ritc_losses
from qaclims.stages.common import add_config_argument
from qaclims.models.weights import load_weights
from qaclims.stages.training import add_training_arguments, save_stage_weights, training_setup
from qaclims.text.clip_text import load_clip
from qaclims.train.distributed import distribute, stop_processes
from qaclims.train.loop import run_training, unwrap
from qaclims.train.optim import poly_sgd

DESCRIPTION = "train the QA-CLIMS CAM network (region image-text contrast with a mask-prompt CLIP)"


def add_arguments(parser) -> None:
    add_config_argument(parser, "reads ritc.*, cam.*, clip.*, device, precision, output_dir")
    add_training_arguments(parser)
    parser.add_argument("--baseline", required=True, help="baseline classifier weights (train-cam)")
    parser.add_argument("--corpus", required=True, help="corpus/corpus.parquet")
    parser.add_argument("--features", required=True, help="corpus/text_features.safetensors")


def run(args) -> None:
    config, recipe = args.config, args.config["ritc"]
    index = read_index(args.index)
    setup = training_setup(args, index, recipe, config["cam"]["seed"], __name__)
    if recipe["batch_size"] % setup.processes.world_size:
        # The losses are per-process means over images, so unequal shares would weight images unequally.
        raise QaclimsError(f"ritc.batch_size {recipe['batch_size']} does not split evenly over "
                           f"{setup.processes.world_size} processes; make it a multiple of ritc.gpus")
    baseline = load_weights(args.baseline)
    if baseline["classes"] != index.classes:
        raise QaclimsError(f"{args.baseline} was trained on classes {baseline['classes']}, not {index.classes}")
    network = QACLIMSNetwork(config["cam"]["backbone"], len(index.classes))
    network.load_state_dict(baseline["state_dict"], strict=True)
    backbone, head = network.parameter_groups()
    model = distribute(network, setup.processes, sync_batch_norm=True)

    name, pretrained, config_dir = clip_model_spec(config)
    clip_model, _ = load_clip(name, pretrained, config_dir, setup.processes.device)
    clip = MaskPromptCLIP(clip_model, recipe["mask_prompt_depth"]).to(setup.processes.device)
    if recipe["ovseg_checkpoint"]:
        clip.load_ovseg_checkpoint(recipe["ovseg_checkpoint"])
    texts = pair_texts(pd.read_parquet(args.corpus), load_file(args.features), setup.image_ids,
                       setup.dataset.labels).to(setup.processes.device)
    weights = recipe["loss_weights"]
    objective = ObjectiveSettings(
        alpha=recipe["alpha"], temperature=recipe["temperature"], foreground_weight=weights["foreground"],
        background_weight=weights["background"], area_weight=weights["area"],
        contrastive_batch=recipe["contrastive_batch"], clip_input_size=recipe["clip_input_size"],
        clip_normalization=recipe["clip_normalization"], precision=config["precision"])
    optimizer, scheduler = poly_sgd(backbone, head, recipe["lr"], recipe["head_lr_multiplier"],
                                    recipe["weight_decay"], recipe["momentum"], setup.max_steps)

    def loss_step(images, labels, samples):
        return ritc_losses(model(images), images, labels, torch.as_tensor(samples), clip, texts, objective)

    model.train()
    run_training(model, setup.dataset, loss_step, optimizer, scheduler, setup.loop, setup.processes,
                 os.path.join(args.checkpoint_dir, setup.checkpoint_key), setup.checkpoint_key)
    if setup.processes.is_main:
        save_stage_weights(args.out, unwrap(model), index.classes, config, __name__)
    stop_processes(setup.processes)
