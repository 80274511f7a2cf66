"""A training run: fit, select on validation, (optionally) refit, test, write everything.

Protocol (honest by default): with ``train.select=val`` or ``eval.calibration=val`` the
model is trained on the training images of the seen classes minus a held-out validation
split (seen classes held out as pseudo-unseen, plus held-out images of the other seen
classes). Each epoch is scored on that split; the epoch with the best validation H is kept,
and the calibration gamma is chosen there. With ``train.refit`` the model is then retrained
from scratch on all training images for the selected number of epochs and keeps the
validation gamma. The test splits are only used once, for the final report.
"""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mgmrn.config import Config, absolute_paths, save_config
from mgmrn.data.build import RANK_SEED_STEP, ZSLData, build_data
from mgmrn.errors import UserError
from mgmrn.evaluation.confidence import fit_on_split
from mgmrn.evaluation.evaluate import Evaluator, evaluate_checkpoint_model
from mgmrn.evaluation.metrics import Calibration, stage_gammas, stage_metrics
from mgmrn.models.mgmrn import MgMRN
from mgmrn.runtime.distributed import barrier, init_distributed, is_main
from mgmrn.runtime.inputs import Inputs, InputSource
from mgmrn.storage.rundir import RunFolder
from mgmrn.storage.saved_run import SavedRun
from mgmrn.training.loop import train_epoch
from mgmrn.training.losses import Criterion
from mgmrn.training.optim import build_optimizer, set_learning_rates
from mgmrn.training.step import Stepper
from mgmrn.utils.io import atomic_open, write_json
from mgmrn.utils.paths import LAST, SELECTED
from mgmrn.utils.progress import expect_later_epochs


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


GROWTH = 100.0  # weights whose norm grows more than this many times in one epoch have diverged
CHECKED_METRICS = ("zsl_top1", "gzsl_unseen", "gzsl_seen", "gzsl_h", "gamma", "temperature")


def weight_norm(model: nn.Module) -> float:
    """The L2 norm of all the model's parameters together (inf when it overflows float32)."""
    norms = [torch.linalg.vector_norm(p.detach().float()) for p in model.parameters()]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


def check_metrics(desc: str, val: dict[str, Any]) -> None:
    """A UserError when a validation metric is not a finite number: the epoch diverged."""
    bad = [k for k in CHECKED_METRICS if isinstance(val.get(k), float) and not math.isfinite(val[k])]
    if bad:
        raise UserError(f"training diverged in '{desc}': validation {', '.join(bad)} not finite "
                        f"({val[bad[0]]}); {LAST} keeps the epoch before; lower train.lr")


def build_model(cfg: Config, data: ZSLData) -> MgMRN:
    """Mg-MRN for the data's attributes (and attribute vectors, if any)."""
    vectors = None if data.attribute_vectors is None else torch.as_tensor(data.attribute_vectors)
    return MgMRN(cfg.model, len(data.attribute_names), vectors)


@dataclass
class Phase:
    """One training phase: its name, samples, epoch count, and whether it validates."""

    name: str
    samples: list[tuple[str, int]]
    seen: np.ndarray  # global ids of the classes trained on
    epochs: int
    validate: bool


@dataclass
class RunState:
    phase: str = "select"
    epoch: int = 0  # epochs completed in this phase
    best_epoch: int = -1
    best_h: float = -1.0
    gamma: float | None = None
    temperature: float | None = None  # of the probabilities, fitted on validation with gamma
    stage_gammas: list[float] | None = None  # each stage's own best-H gamma on validation
    log: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """Runs ``mgmrn train`` end to end in ``output``."""

    def __init__(self, cfg: Config, output: Path) -> None:
        absolute_paths(cfg)  # the saved config and checkpoints then work from any directory
        self.cfg, self.output = cfg, Path(output)
        self.rank, self.world, self.device = init_distributed()
        seed_everything(cfg.seed, cfg.train.deterministic)
        if is_main():  # the main process generates anything missing (e.g. the synthetic set) first
            self.data = build_data(cfg.data)
        barrier()
        if not is_main():
            self.data = build_data(cfg.data)
        self.attributes = torch.as_tensor(self.data.attributes, dtype=torch.float32)
        self.state = RunState()
        self.writer = None

    # ------------------------------------------------------------------ set-up
    def _phases(self) -> list[Phase]:
        cfg, data = self.cfg, self.data
        use_val = cfg.train.select == "val" or cfg.eval.calibration == "val"
        if not use_val:
            return [Phase("final", list(data.train), data.seen, cfg.train.epochs, False)]
        if len(data.val.val_unseen) == 0:
            raise UserError("validation split is empty: raise data.val_classes or use train.select=last "
                            "with eval.calibration=test-sweep|fixed")
        select = Phase("select", list(data.val.train_sub), np.asarray(data.val.val_seen_classes),
                       cfg.train.epochs, True)
        if not cfg.train.refit:
            return [select]
        return [select, Phase("refit", list(data.train), data.seen, cfg.train.epochs, False)]

    def _fresh(self, phase: Phase) -> None:
        """A new model, and what its training steps use, for ``phase`` (same seed every phase)."""
        cfg, t = self.cfg, self.cfg.train
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg, self.data).to(self.device)
        if self.device.type == "cuda" and t.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if t.freeze_backbone:
            self.model.backbone.requires_grad_(False)
        self.inputs = Inputs.create(cfg, self.data, self.model, self.device, training=True)
        self.net: nn.Module = self.model
        if self.world > 1:
            unused = t.stage_updates == "per-stage" or t.frozen_epochs > 0
            self.net = nn.parallel.DistributedDataParallel(self.model, find_unused_parameters=unused)
        self.stepper = Stepper(build_optimizer(self.model, t), self.device, t.amp)
        self.criterion = Criterion.for_run(cfg, self.attributes, phase.seen, self.model.num_stages).to(self.device)

    # ------------------------------------------------------------------ running
    def run(self, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
        """Train and test in ``output``, which this run owns while it lasts (:class:`RunFolder`):
        a new run needs a folder without a run in it, or ``overwrite`` (the old run's files go
        first); ``resume`` continues the run from its ``last.pt``."""
        folder = RunFolder(self.output)
        try:
            if is_main():
                folder.claim()
                folder.start(resume, overwrite)
            barrier()
            return self._run(resume)
        finally:
            folder.release()

    def _run(self, resume: bool) -> dict[str, Any]:
        resumed = self._resumed() if resume else None
        if resumed is None and is_main():
            save_config(self.cfg, self.output / "config.yaml")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.output / "tb")) if is_main() else None
        phases = self._phases()
        names = [p.name for p in phases]
        for phase in phases[names.index(self.state.phase) if self.state.phase in names else 0 :]:
            if phase.name != self.state.phase:
                self.state.phase, self.state.epoch = phase.name, 0
            if phase.name == "refit":
                phase.epochs = self.state.best_epoch + 1
            self._fresh(phase)
            if resumed is not None and resumed.training["run_state"]["phase"] == phase.name:
                self._restore(resumed, phase)
                resumed = None
            self._train_phase(phase)
        metrics = self._final_test()
        if self.writer is not None:
            self.writer.close()
        return metrics

    def _resumed(self) -> SavedRun:
        """The saved run of ``last.pt``, for ``--resume``; the run state is restored from it."""
        resumed = SavedRun.open(self.output / LAST)
        try:
            self.state = RunState(**resumed.training["run_state"])  # type: ignore[index]
        except (KeyError, TypeError):
            raise UserError("damaged checkpoint: no run state to resume from", self.output / LAST) from None
        return resumed

    def _later_epochs(self, phase: Phase) -> int:
        """Epochs the run expects after ``phase``: a refit lasts as long as the best epoch so far."""
        if phase.name != "select" or not self.cfg.train.refit:
            return 0
        return self.state.best_epoch + 1 if self.state.best_epoch >= 0 else phase.epochs

    def _train_phase(self, phase: Phase) -> None:
        norm = weight_norm(self.model)
        for epoch in range(self.state.epoch, phase.epochs):
            source = self._start_epoch(epoch)
            seed = self.cfg.seed * 1000 + epoch
            expect_later_epochs(self._later_epochs(phase))
            desc = f"{phase.name} {epoch + 1}/{phase.epochs}"
            stats = train_epoch(self.net, source.train_batches(phase.samples, seed), self.criterion, self.stepper,
                                desc).over_processes()
            norm = self._check_weights(desc, norm, stats.loss)
            row: dict[str, Any] = {"phase": phase.name, "epoch": epoch + 1,
                                   "lr": self.stepper.optimizer.param_groups[0]["lr"],
                                   "loss": stats.loss, "img_s": stats.img_s, "seconds": stats.seconds}
            keep = epoch == phase.epochs - 1
            if phase.validate:
                val = self._validate(source)
                check_metrics(desc, val)
                row.update({"val_zsl_top1": val["zsl_top1"], "val_unseen": val["gzsl_unseen"],
                            "val_seen": val["gzsl_seen"], "val_h": val["gzsl_h"], "val_gamma": val["gamma"],
                            "val_temperature": val["temperature"]})
                if self.cfg.train.select == "val":
                    keep = val["gzsl_h"] > self.state.best_h
                if keep:
                    self.state.best_h, self.state.best_epoch, self.state.gamma = val["gzsl_h"], epoch, val["gamma"]
                    self.state.temperature, self.state.stage_gammas = val["temperature"], val["stage_gammas"]
            self.state.epoch = epoch + 1
            self._log(row)
            if is_main():
                if keep:
                    self.saved_run().save(self.output / SELECTED)
                self._save_last()
            barrier()

    def _check_weights(self, desc: str, before: float, loss: float) -> float:
        """Stop before a diverged model is saved (the saved checkpoints keep the epoch before):
        a step can turn the weights non-finite after a finite loss, or multiply them by orders
        of magnitude (:data:`GROWTH`) while they stay finite. Returns the weights' norm."""
        bad = [name for name, t in self.model.state_dict().items()
               if t.is_floating_point() and not bool(torch.isfinite(t).all())]
        if bad:
            raise UserError(f"training diverged in '{desc}': {len(bad)} weight tensors are not finite "
                            f"(e.g. {bad[0]}); {LAST} keeps the last finite epoch; lower train.lr")
        norm = weight_norm(self.model)
        if norm > GROWTH * before or not math.isfinite(loss):
            raise UserError(f"training diverged in '{desc}': the weights' norm went from {before:.3g} to "
                            f"{norm:.3g} in one epoch (loss {loss:.3g}); {LAST} keeps the epoch before; "
                            "lower train.lr")
        return norm

    def _start_epoch(self, epoch: int) -> InputSource:
        """Seed, learning rates and train/eval modes of ``epoch``; returns what it reads:
        cached maps while the backbone is frozen (``train.freeze_backbone``, or the first
        ``train.frozen_epochs``), images otherwise."""
        t = self.cfg.train
        torch.manual_seed(self.cfg.seed * 1000 + epoch + RANK_SEED_STEP * self.rank)  # rank 0: as one process
        set_learning_rates(self.stepper.optimizer, t, epoch)
        frozen = t.freeze_backbone or epoch < t.frozen_epochs  # heads only, on cached maps
        self.net.train()
        if frozen:
            self.model.backbone.eval()
        elif t.freeze_bn:
            for module in self.model.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self.inputs.source(frozen)

    def _validate(self, source: InputSource) -> dict[str, Any]:
        """Validation metrics (held-out seen classes as unseen); gamma chosen here (best H), and
        the temperature of the probabilities of the ranking with that gamma (``temperature``),
        and each stage's own gamma (``stage_gammas``, for the per-stage test metrics)."""
        v = self.data.val
        evaluator = Evaluator.for_run(self.model, source, self.cfg, self.attributes, self.device)
        scores, labels = evaluator.scores(v.val_seen, v.val_unseen, "val")
        calibration = Calibration.from_config(self.cfg.eval).sweeping()
        classes = np.asarray(v.val_seen_classes), np.asarray(v.val_unseen_classes)
        val = stage_metrics(scores, labels, *classes, calibration, per_stage=False)
        val["temperature"] = fit_on_split(scores.sum(1).numpy(), labels, *classes, val["gamma"])
        val["stage_gammas"] = stage_gammas(scores, labels, *classes, calibration.grid)
        return val

    def _final_test(self) -> dict[str, Any]:
        """Metrics of the selected model on the test splits; ``metrics.json``."""
        selected = SavedRun.open(self.output / SELECTED)
        self.model.load_state_dict(selected.weights)
        metrics = evaluate_checkpoint_model(self.model, self.inputs, self.data, self.cfg, self.device,
                                            gamma=self.state.gamma, temperature=self.state.temperature,
                                            stage_val_gammas=self.state.stage_gammas)
        metrics["selected_epoch"] = selected.epoch
        metrics["phase"] = selected.phase
        if is_main():
            write_json(self.output / "metrics.json", metrics)
            # the test sweep's gamma: what eval.calibration=test-sweep applies (SavedRun.applied_gamma)
            selected.replace(metrics=metrics, test_sweep_gamma=metrics["test_sweep_gamma"]).save(self.output / SELECTED)
            if self.writer is not None:
                for key in ("zsl_top1", "gzsl_unseen", "gzsl_seen", "gzsl_h", "ausuc"):
                    self.writer.add_scalar(f"test/{key}", metrics[key])
        return metrics

    # ------------------------------------------------------------------ files
    def saved_run(self) -> SavedRun:
        """The run as saved: the model and enough to predict without the data."""
        d = self.data
        return SavedRun(
            config=self.cfg, weights=self.model.state_dict(), classes=list(d.classes),
            attributes=torch.as_tensor(d.attributes), attribute_names=list(d.attribute_names),
            attribute_vectors=None if d.attribute_vectors is None else torch.as_tensor(d.attribute_vectors),
            seen=torch.as_tensor(d.seen), unseen=torch.as_tensor(d.unseen), normalizer=d.normalizer,
            weights_id=self.model.backbone.weights_id, mean=tuple(self.model.backbone.mean),
            std=tuple(self.model.backbone.std), val_gamma=self.state.gamma, test_sweep_gamma=None,
            temperature=self.state.temperature, stage_gammas=self.state.stage_gammas,
            epoch=self.state.epoch, phase=self.state.phase,
        )

    def _save_last(self) -> None:
        training = {**self.stepper.state_dict(), "run_state": self.state.__dict__}
        self.saved_run().replace(training=training).save(self.output / LAST)

    def _restore(self, state: SavedRun, phase: Phase) -> None:
        """Weights and optimiser state of ``last.pt`` into the fresh ``phase``."""
        try:
            self.model.load_state_dict(state.weights)
        except RuntimeError:
            raise UserError("its weights do not fit the model of the config resumed with (a model.* key "
                            "changed with --set?)", self.output / LAST) from None
        self.stepper.load_state_dict(state.training)  # type: ignore[arg-type]
        if self.state.epoch >= phase.epochs and is_main():
            print(f"resume: phase '{phase.name}' already has {self.state.epoch} epochs "
                  f"(train.epochs={self.cfg.train.epochs}); nothing left to train in it", flush=True)

    def _log(self, row: dict[str, Any]) -> None:
        self.state.log.append(row)
        if not is_main():
            return
        summary = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
        print(summary, flush=True)
        keys: list[str] = []
        for r in self.state.log:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.state.log)
        with atomic_open(self.output / "log.csv") as handle:
            handle.write(buf.getvalue())
        if self.writer is not None:
            step = len(self.state.log)
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.writer.add_scalar(f"{row['phase']}/{k}", v, step)

