"""TensorBoard at each validation: per-class IoU as scalars, the confusion matrix and IoU chart as images."""

from typing import Any

import numpy as np

from pointseg.constants import CLASS_NAMES
from pointseg.metrics import scores
from pointseg.viz.plots import confusion_figure, figure_array, iou_figure


def log_validation(writer: Any, epoch: int, conf: np.ndarray) -> None:
    """Write to a torch.utils.tensorboard SummaryWriter (or anything with add_scalar/add_image): scalars
    val_iou/<class> for classes with an IoU, images val/confusion_matrix and val/iou (H, W, 3) uint8."""
    s = scores(conf)
    for name, value in zip(CLASS_NAMES, s.iou):
        if not np.isnan(value):
            writer.add_scalar(f"val_iou/{name}", float(value), epoch)
    title = f"validation, epoch {epoch}"
    writer.add_image("val/confusion_matrix", figure_array(confusion_figure(conf, title)), epoch, dataformats="HWC")
    writer.add_image("val/iou", figure_array(iou_figure(s.iou, title)), epoch, dataformats="HWC")
    writer.flush()
