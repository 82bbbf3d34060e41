"""Train the QA-CLIMS CAM network against a frozen mask-prompt CLIP and the VQA text corpus."""

import warnings

import pandas as pd
import torch
from safetensors.torch import load_file

from qaclims.cam.ritc_objective import ObjectiveSettings, pair_texts, ritc_losses
from qaclims.config import settings_from
from qaclims.data.index import read_index
from qaclims.errors import QaclimsError
from qaclims.models.cam import QACLIMSNetwork
from qaclims.models.mask_clip import MaskPromptCLIP
from qaclims.models.weights import load_weights
from qaclims.stages.shared.arguments import add_clip_arguments, add_config_argument
from qaclims.text.clip_text import load_clip
from qaclims.train.distributed import distribute
from qaclims.train.optim import poly_sgd
from qaclims.train.session import add_training_arguments, start_training, train_and_save
from qaclims.train.training_sets import classification_set

DESCRIPTION = "train the QA-CLIMS CAM network (region image-text contrast with a mask-prompt CLIP)"


def add_arguments(parser) -> None:
    add_config_argument(parser, __name__)
    add_clip_arguments(parser)
    add_training_arguments(parser)
    parser.add_argument("--baseline", required=True, help="baseline classifier weights (train-cam)")
    parser.add_argument("--corpus", required=True, help="corpus/corpus.parquet")
    parser.add_argument("--features", required=True, help="corpus/text_features.safetensors")


def run(args) -> None:
    config, recipe = args.config, args.config["ritc"]
    index = read_index(args.index)
    dataset, image_ids = classification_set(index, recipe, config["cam"]["seed"])
    # A CLIP tag that names no file stands for itself in the key, as a changed tag is another model.
    models = [path for path in (args.clip_pretrained, recipe["ovseg_checkpoint"]) if path]
    inputs = [args.index, args.baseline, args.corpus, args.features, *models]
    session = start_training(args, dataset, recipe, config["cam"]["seed"], __name__, inputs)
    processes = session.processes
    if recipe["batch_size"] % processes.world_size:
        # The losses are per-process means over images, so unequal shares would weight images unequally.
        raise QaclimsError(f"ritc.batch_size {recipe['batch_size']} does not split evenly over "
                           f"{processes.world_size} processes; make it a multiple of ritc.gpus")
    baseline = load_weights(args.baseline)
    if baseline["classes"] != index.classes:
        raise QaclimsError(f"{args.baseline} was trained on classes {baseline['classes']}, not {index.classes}")
    network = QACLIMSNetwork(config["cam"]["backbone"], len(index.classes))
    network.load_state_dict(baseline["state_dict"], strict=True)
    backbone, head = network.parameter_groups()
    model = distribute(network, processes, sync_batch_norm=True)

    clip_model, _ = load_clip(args.clip_model, args.clip_pretrained, args.clip_config_dir, processes.device)
    clip = training_clip(clip_model, recipe["mask_prompt_depth"], recipe["ovseg_checkpoint"], processes.device)
    texts = pair_texts(pd.read_parquet(args.corpus), load_file(args.features), image_ids, dataset.labels,
                       recipe["foreground_texts"], recipe["background_texts"], recipe["shuffle_seed"]
                       ).to(processes.device)
    weights = recipe["loss_weights"]
    objective = settings_from(ObjectiveSettings, recipe, foreground_weight=weights["foreground"],
                              background_weight=weights["background"], area_weight=weights["area"],
                              precision=config["precision"])
    optimizer, scheduler = poly_sgd(backbone, head, recipe["lr"], recipe["head_lr_multiplier"],
                                    recipe["weight_decay"], recipe["momentum"], session.max_steps)

    def loss_step(images, labels, samples):
        return ritc_losses(model(images), images, labels, torch.as_tensor(samples), clip, texts, objective)

    train_and_save(session, model, loss_step, optimizer, scheduler, index.classes)


def training_clip(clip_model: torch.nn.Module, depth: int, ovseg_checkpoint: str | None,
                  device: torch.device) -> MaskPromptCLIP:
    """The frozen CLIP that encodes the CAM-masked regions.

    Depth 0 is the reference's --use_mask_clip False ablation: plain clip.* CLIP on the masked
    image. OV-Seg's checkpoint is a CLIP fine-tuned on masked images with its prompt, so it is not
    loaded then.
    """
    prompt_from_checkpoint = bool(ovseg_checkpoint and depth)
    with warnings.catch_warnings():
        if prompt_from_checkpoint:  # the zero mask embeddings are replaced just below: no warning in the log
            warnings.simplefilter("ignore")
        clip = MaskPromptCLIP(clip_model, depth).to(device)
    if prompt_from_checkpoint:
        clip.load_ovseg_checkpoint(ovseg_checkpoint)
    elif ovseg_checkpoint:
        print(f"ritc.mask_prompt_depth 0: plain clip.* CLIP on the masked image, as the reference's "
              f"--use_mask_clip False; {ovseg_checkpoint} is not loaded")
    return clip
