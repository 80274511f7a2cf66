"""The learning-rate schedule: closed forms of torch's schedulers, fine-tuning restart."""

from __future__ import annotations

import pytest
import torch

from mgmrn.config import load_config
from mgmrn.training.optim import lr_factor, set_learning_rates


@pytest.mark.parametrize("scheduler", ["step", "cosine"])
def test_lr_factor_is_the_closed_form_of_torchs_scheduler(scheduler: str) -> None:
    cfg = load_config(None, [f"train.lr_schedule={scheduler}", "train.epochs=25", "train.lr_step_epochs=7"]).train
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    torch_scheduler = (torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=cfg.lr_decay) if scheduler == "step"
                       else torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=25))
    for epoch in range(25):
        assert lr_factor(cfg, epoch) == pytest.approx(opt.param_groups[0]["lr"], abs=1e-12)
        opt.step()
        torch_scheduler.step()


def test_finetune_schedule_restart_and_group_rates() -> None:
    over = ["train.lr_schedule=cosine", "train.epochs=14", "train.frozen_epochs=10", "train.lr=1e-4",
            "train.head_lr=1e-3", "train.freeze_backbone=false"]
    cont = load_config(None, over).train
    restart = load_config(None, [*over, "train.finetune_lr_schedule=restart"]).train
    for epoch in range(10):  # the linear probe is the same
        assert lr_factor(restart, epoch) == lr_factor(cont, epoch)
    assert lr_factor(cont, 10) == pytest.approx(0.5 * (1 + torch.cos(torch.tensor(torch.pi * 10 / 14)).item()))
    assert [lr_factor(restart, e) for e in (10, 12)] == pytest.approx([1.0, 0.5])
    heads, backbone = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([{"params": [heads]}, {"params": [backbone]}], lr=5.0, momentum=0.5)
    set_learning_rates(opt, restart, 10)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-3, 1e-4])
    assert all(g["momentum"] == restart.momentum for g in opt.param_groups)
