"""The optimizer, the learning-rate schedule and gradient clipping named by a TrainingConfig.

Everything here is torch's own (``torch.optim``, ``torch.optim.lr_scheduler``,
``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``); this module only maps the
configuration's names onto it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.optim import lr_scheduler

from tsseq.engine.config import TrainingConfig

Scheduler = lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau


def make_optimizer(config: TrainingConfig, parameters: Sequence[torch.nn.Parameter], device: torch.device):
    """``config.optimizer`` over ``parameters``; Adam and AdamW use the fused CUDA kernel on CUDA."""
    common = {"lr": config.learning_rate, "weight_decay": config.weight_decay}
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, momentum=config.momentum, **common)
    optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    fused = device.type == "cuda" and all(p.is_cuda and p.is_floating_point() for p in parameters)
    return optimizer_class(parameters, fused=fused or None, **common)


def make_scheduler(config: TrainingConfig, optimizer: torch.optim.Optimizer) -> Scheduler | None:
    """The per-epoch learning-rate schedule; None for a constant rate."""
    if config.lr_schedule == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs, eta_min=config.min_learning_rate)
    if config.lr_schedule == "step" and config.lr_hold_epochs:
        hold, step, decay = config.lr_hold_epochs, config.lr_step_epochs, config.lr_decay
        return lr_scheduler.LambdaLR(optimizer, lambda epoch: decay ** (max(0, epoch - hold) // step))
    if config.lr_schedule == "step":
        return lr_scheduler.StepLR(optimizer, step_size=config.lr_step_epochs, gamma=config.lr_decay)
    if config.lr_schedule == "plateau":
        return lr_scheduler.ReduceLROnPlateau(
            optimizer,
            factor=config.lr_decay,
            patience=config.lr_plateau_patience,
            min_lr=config.min_learning_rate,
        )
    return None


def step_scheduler(scheduler: Scheduler | None, monitored_loss: float) -> None:
    """Advance the schedule by one epoch (the plateau schedule watches ``monitored_loss``)."""
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitored_loss)
    elif scheduler is not None:
        scheduler.step()


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def clip_gradients(parameters: Sequence[torch.nn.Parameter], config: TrainingConfig) -> torch.Tensor:
    """Clip the gradients as configured; return their global L2 norm *before* clipping.

    The norm stays a 0-dim device tensor: reading it would wait for the device.
    """
    if config.clip_norm is not None:
        return torch.nn.utils.clip_grad_norm_(parameters, config.clip_norm)  # returns the pre-clip norm
    norm = total_norm([parameter.grad for parameter in parameters if parameter.grad is not None])
    if config.clip_value is not None:
        torch.nn.utils.clip_grad_value_(parameters, config.clip_value)
    return norm


def total_norm(gradients: list[torch.Tensor]) -> torch.Tensor:
    """Global L2 norm of ``gradients`` (``torch.nn.utils.get_total_norm`` where torch has it)."""
    get_total_norm = getattr(torch.nn.utils, "get_total_norm", None)  # torch >= 2.6
    if get_total_norm is not None:
        return get_total_norm(gradients)
    if not gradients:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(gradient) for gradient in gradients]))
