"""SGD with the reference's polynomial learning-rate decay and a 10x head learning rate."""

import torch


def poly_sgd(backbone, head, lr: float, head_lr_multiplier: float, weight_decay: float,
             momentum: float, max_steps: int, power: float = 0.9, names: tuple[str, str] = ("backbone", "head")):
    """SGD over two parameter groups, lr_t = lr_0 * (1 - t / max_steps) ** power. The groups carry their
    ``names``, which the training curve gives their learning rates.

    The reference passes weight decay into SGD's momentum slot by position, so it trains with
    momentum 1e-4; ``momentum`` is a config value whose default reproduces that.
    """
    optimizer = torch.optim.SGD(
        [{"params": backbone, "lr": lr, "name": names[0]},
         {"params": head, "lr": lr * head_lr_multiplier, "name": names[1]}],
        lr=lr, momentum=momentum, weight_decay=weight_decay,
    )
    return optimizer, poly_schedule(optimizer, max_steps, power)


def poly_schedule(optimizer, max_steps: int, power: float = 0.9):
    """Every group's learning rate times (1 - t / max_steps) ** power at step t."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / max_steps) ** power)
