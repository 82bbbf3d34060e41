"""The mIoU of every stage in one table, and the IoU of every class for every stage."""

from collections.abc import Mapping

import pandas as pd

from qaclims.report.html import note, table

NETWORK_NAMES = {"baseline": "Baseline CAM", "ritc": "QA-CLIMS CAM"}
PSEUDO_MASK = "Pseudo mask"
SEGMENTATION = "Segmentation"
SEGMENTATION_CRF = "Segmentation + CRF"
MIOU_COLUMNS = ["stage", "setting", "split", "images", "mIoU (%)"]


def network_name(network: str) -> str:
    return NETWORK_NAMES.get(network, f"{network} CAM")


def miou_table(cams: Mapping[str, Mapping], pseudo: Mapping | None, segmentation: Mapping | None) -> pd.DataFrame:
    """One row per stage and setting, in pipeline order, with the mIoU in percent.

    ``cams`` maps a network to its eval_cam summary; ``pseudo`` and ``segmentation`` are the
    eval_pseudo and eval_seg summaries (the latter without ``miou_crf`` when no CRF ran). A stage whose split has
    no masks has no summary (None, or no cams), and no row.
    """
    rows = []
    for network, summary in cams.items():
        where = (summary["split"], summary["images"])
        rows += [(network_name(network), f"fixed threshold {summary['threshold']:.2f}", *where, summary["miou"]),
                 (network_name(network), f"best threshold {summary['best_threshold']:.2f}, tuned on the evaluation labels",
                  *where, summary["best_miou"])]
    if pseudo is not None:
        rows.append((PSEUDO_MASK, "IRNet random walk of the seeds", pseudo["split"], pseudo["images"], pseudo["miou"]))
    for key, setting in (("miou", "without CRF"), ("miou_crf", "with CRF")):
        if segmentation is not None and key in segmentation:
            rows.append((SEGMENTATION, setting, segmentation["split"], segmentation["images"], segmentation[key]))
    frame = pd.DataFrame(rows, columns=MIOU_COLUMNS)
    frame["mIoU (%)"] *= 100
    return frame


NO_SCORES = ("No scores: no evaluated split has ground-truth masks (dataset.mask_splits), so the evaluation stages "
             "did not run. The overlays show what the run made.")


def miou_html(frame: pd.DataFrame) -> str:
    if frame.empty:
        return note(NO_SCORES)
    return table(frame, {"mIoU (%)": "{:.1f}"}) + note(
        "The CAM rows use a constant background plane at the threshold; the best threshold is chosen on the "
        "evaluation labels themselves, so quote the fixed-threshold figure. The pseudo masks are scored on the "
        "same split as the CAMs, the segmentation on its own evaluation split.")


def per_class_iou(cams: Mapping[str, pd.DataFrame], pseudo: pd.DataFrame | None,
                  segmentation: pd.DataFrame | None) -> pd.DataFrame:
    """IoU in percent, one row per class (background first) and one column per stage.

    The inputs are the per-class tables of eval_cam (at the fixed threshold), eval_pseudo
    and eval_seg (``iou`` and, after a CRF, ``iou_crf``); a stage that was not scored has none.
    """
    columns = {network_name(network): frame.set_index("class")["iou"] for network, frame in cams.items()}
    if pseudo is not None:
        columns[PSEUDO_MASK] = pseudo.set_index("class")["iou"]
    if segmentation is not None:
        columns[SEGMENTATION] = segmentation.set_index("class")["iou"]
        if "iou_crf" in segmentation:
            columns[SEGMENTATION_CRF] = segmentation.set_index("class")["iou_crf"]
    if not columns:
        return pd.DataFrame()
    # The class order of the first table, so background stays first.
    order = next(iter(columns.values())).index
    return pd.DataFrame(columns).reindex(order) * 100
