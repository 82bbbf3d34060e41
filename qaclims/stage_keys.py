"""The config keys each stage reads, declared once.

The rules pass exactly these keys to their stage (and rerun it when one changes), each command's
help lists them, and the config loader hands a stage a view that refuses any other key. Every schema
key has a default, so without that refusal a stage reading a key its rule did not pass would get
the default and silently ignore the user's setting.

A key is dotted (``"cam.backbone"``); a section name (``"ritc"``) declares the whole section. This
module imports nothing heavy, so the Snakefile can read it.
"""

STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "demo_data": ("demo", "dataset.classes"),
    "prepare_images": ("dataset",),
    "index": ("dataset",),
    "check_data": ("dataset", "output_dir"),
    "dataset_report": ("report.montage_images", "report.montage_split", "report.montage_columns"),
    "demo_blip": ("demo_models.seed", "demo_models.blip_image_size", "demo_models.blip", "dataset.classes"),
    "demo_clip": ("demo_models.seed", "demo_models.clip_image_size", "demo_models.clip", "dataset.classes",
                  "corpus.prompt"),
    "demo_backbone": ("demo_models.seed", "demo_models.backbone", "cam.backbone", "dataset.classes"),
    "vqa": ("vqa", "device", "precision"),
    "vqa_merge": (),
    "demo_knowledge": ("corpus.prompt", "ritc.ovseg_checkpoint"),
    "corpus": ("corpus", "ritc.ovseg_checkpoint", "ritc.fixed_background_words"),
    "train_cam": ("cam", "device"),
    "train_ritc": ("ritc", "cam.backbone", "cam.seed", "device", "precision"),
    "make_cam": ("make_cam", "cam.backbone", "device"),
    "eval_cam": ("eval_cam",),
    "cam_overlays": ("eval_cam.overlays", "eval_cam.threshold", "make_cam.split"),
    "ir_label": ("ir_label", "make_cam.split"),
    "train_irn": ("irn", "cam.backbone", "cam.backbone_weights", "make_cam.split", "device"),
    "pseudo_label": ("pseudo_label", "irn.crop_size", "irn.displacement", "cam.backbone", "make_cam.split", "device"),
    "eval_pseudo": ("eval_cam.split", "eval_cam.overlays"),
    "label_overlays": ("eval_cam.overlays", "make_cam.split"),
    "train_seg": ("seg", "device", "precision"),
    "infer_seg": ("seg", "infer_seg", "device", "precision"),
    "eval_seg": ("infer_seg.split",),
    "seg_submission": ("infer_seg.test_split",),
    "export_labels": ("seg.split",),
    "predict": ("infer_seg", "dataset.classes", "dataset.max_long_side", "device", "precision"),
    "report_summary": ("report.overlay_images", "report.vqa_images", "ritc.variants", "vqa.answerers", "replicates"),
    # No --config: the rehearsal writes the preset and site files it runs the workflow with.
    "rehearse": (),
}


def stage_keys(stage: str) -> tuple[str, ...]:
    """The keys ``stage`` (a module name under qaclims.stages) reads."""
    try:
        return STAGE_KEYS[stage]
    except KeyError:
        raise KeyError(f"stage {stage!r} declares no config keys in qaclims/stage_keys.py") from None
