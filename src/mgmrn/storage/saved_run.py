"""A saved run (``model.pt``, ``last.pt``): the model's weights and everything needed to
classify new images, evaluate it, or resume its training, as one typed, versioned object.

On disk a saved run is a ``torch.save``'d dict whose keys are :class:`SavedRun`'s fields
(the weights under ``model``), plus ``schema_version``. Files saved before the version
existed are version 0; :data:`UPGRADES` takes a file's dict from its version to the next,
one version at a time, up to :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from mgmrn.config import Config, from_dict, to_dict, upgrade_saved
from mgmrn.data.semantics import SemanticsNormalizer
from mgmrn.errors import UserError
from mgmrn.models.mgmrn import MgMRN
from mgmrn.utils.io import save_torch
from mgmrn.utils.paths import resolve_checkpoint

SCHEMA_VERSION = 1
# what every saved run has held since version 0 (a model's weights and all a prediction needs)
REQUIRED = ("config", "model", "classes", "attributes", "attribute_names", "seen", "unseen")
BEFORE_TEMPERATURES = ("this run was saved before probabilities were calibrated: they are the plain softmax "
                       "of the ranking scores, overconfident (train it again to calibrate them)")
NO_VALIDATION = ("this run was trained without validation: its probabilities are the plain softmax of "
                 "the ranking scores, not calibrated")


@dataclass(frozen=True, eq=False)
class SavedRun:
    """A run's model and all that classifying, evaluating or resuming it needs."""

    config: Config
    weights: dict[str, Tensor]  # the model's state dict (``model`` on disk)
    classes: list[str]  # every class of the data set, by global index
    attributes: Tensor  # (K, A) the classes' attribute vectors, normalised (data.normalize)
    attribute_names: list[str]
    attribute_vectors: Tensor | None  # (A, D) attribute-name embeddings, for models that use them
    seen: Tensor  # global indices of the seen (trained-on) classes
    unseen: Tensor  # and of the unseen ones
    normalizer: SemanticsNormalizer | None  # None: minmax / zscore statistics were not saved (version 0)
    weights_id: str | None  # the backbone's pretrained weights (keys the feature cache); None: unknown
    mean: tuple[float, ...]  # the input normalisation of the backbone
    std: tuple[float, ...]
    val_gamma: float | None  # the gamma chosen on validation (None: trained without)
    test_sweep_gamma: float | None  # the best-H gamma of the final test's sweep (None: not tested yet)
    temperature: float | None  # of the probabilities, fitted on validation (None: not fitted)
    stage_gammas: list[float] | None  # each stage's own validation gamma (None: not saved)
    epoch: int
    phase: str
    metrics: dict[str, Any] | None = None  # metrics.json, once the run is tested
    training: dict[str, Any] | None = None  # last.pt: optimiser, scaler and run state, for --resume
    before_temperatures: bool = False  # saved by a version that fitted no temperature

    # ------------------------------------------------------------------ files
    @classmethod
    def open(cls, path: str | Path) -> "SavedRun":
        """The saved run of a file or run directory, on the CPU; a one-line UserError naming the
        file if it is unreadable, damaged, or saved by a newer version."""
        path = resolve_checkpoint(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
            raise UserError(f"not a readable mgmrn checkpoint ({type(exc).__name__}: {exc})", path) from None
        if not isinstance(state, dict) or "model" not in state or "config" not in state:
            raise UserError("not an mgmrn checkpoint (missing model/config)", path)
        state = _upgraded(dict(state), path)
        try:
            config = from_dict(state["config"])
        except UserError as exc:
            raise UserError(f"damaged checkpoint: its config: {exc}", path) from None
        normalizer = state["normalizer"]
        run = cls(**{**{f.name: state[f.name] for f in dataclasses.fields(cls) if f.name in state},
                     "config": config, "weights": state["model"],
                     "normalizer": None if normalizer is None else SemanticsNormalizer.from_state(normalizer)})
        run.check_weights(path)
        return run

    def save(self, path: str | Path) -> None:
        """Write the run atomically (a crash never leaves a truncated file)."""
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state.pop("weights")
        save_torch(path, {"schema_version": SCHEMA_VERSION, **state, "config": to_dict(self.config),
                          "model": self.weights,
                          "normalizer": None if self.normalizer is None else self.normalizer.state()})

    def replace(self, **changes: Any) -> "SavedRun":
        """A copy with ``changes`` (the run itself never changes)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ model
    def _build(self, meta: bool = False) -> MgMRN:
        """The model the config describes, without pretrained weights (on the meta device)."""
        model_cfg = dataclasses.replace(self.config.model, pretrained="none")
        vectors = self.attribute_vectors
        if meta:
            with torch.device("meta"):
                return MgMRN(model_cfg, len(self.attribute_names),
                             None if vectors is None else torch.empty(tuple(vectors.shape)))
        return MgMRN(model_cfg, len(self.attribute_names), vectors)

    def check_weights(self, path: str | Path) -> None:
        """A one-line UserError unless the weights are those of the config's model."""
        try:
            expected = {key: tuple(value.shape) for key, value in self._build(meta=True).state_dict().items()}
        except UserError as exc:
            raise UserError(f"damaged checkpoint: its config: {exc}", path) from None
        got = {key: tuple(getattr(value, "shape", (None,))) for key, value in self.weights.items()}
        problems = [f"{len(keys)} {what} (e.g. {keys[0]})" for what, keys in (
            ("weights missing", [k for k in expected if k not in got]),
            ("unknown weights", [k for k in got if k not in expected]),
            ("weights of the wrong shape", [k for k in expected if k in got and got[k] != expected[k]]),
        ) if keys]
        if problems:
            raise UserError(f"damaged checkpoint: {'; '.join(problems)} for the model of its config", path)

    def model(self) -> MgMRN:
        """The run's model in eval mode, on the CPU (no pretrained download: the weights are here)."""
        model = self._build()
        try:
            model.load_state_dict(self.weights)
        except RuntimeError as exc:  # shapes of another model: e.g. a model.* override at evaluation
            lines = str(exc).splitlines()
            detail = lines[1].strip() if len(lines) > 1 else str(exc)
            raise UserError(f"the saved weights do not fit the model the configuration describes "
                            f"(a model.* override changes the architecture?): {detail}") from None
        if self.weights_id is not None:  # frozen-backbone runs keep their pretrained weights: the cache stays valid
            model.backbone.weights_id = self.weights_id
        return model.eval()

    # ------------------------------------------------------------------ what it decided
    @property
    def applied_gamma(self) -> float:
        """The gamma ``metrics.json`` applies under the run's ``eval.calibration``: ``val`` the
        validation-chosen gamma, ``fixed`` ``eval.fixed_gamma``, ``test-sweep`` the final
        test's best-H gamma; 0 while it has none (trained without validation, not tested yet)."""
        how = self.config.eval.calibration
        gamma = {"val": self.val_gamma, "fixed": self.config.eval.fixed_gamma,
                 "test-sweep": self.test_sweep_gamma}[how]
        return 0.0 if gamma is None else float(gamma)

    @property
    def probability_temperature(self) -> float:
        """The temperature probabilities are divided by: the fitted one, else 1 (plain softmax)."""
        return 1.0 if self.temperature is None else float(self.temperature)

    @property
    def temperature_note(self) -> str:
        """Why the probabilities are the plain softmax, or ``""`` when a temperature was fitted."""
        if self.temperature is not None:
            return ""
        return BEFORE_TEMPERATURES if self.before_temperatures else NO_VALIDATION

    @property
    def seen_mask(self) -> Tensor:
        """(K,) bool: which of :attr:`classes` were seen in training."""
        mask = torch.zeros(len(self.classes), dtype=torch.bool)
        mask[torch.as_tensor(self.seen, dtype=torch.long)] = True
        return mask


def _upgrade_from_0(state: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (saved before the schema version): the validation gamma was ``gamma``, the
    resume state lay beside the model's, and older files lack later entries."""
    state["val_gamma"] = state.pop("gamma", None)
    state["before_temperatures"] = "temperature" not in state
    state.setdefault("temperature", None)
    for key in ("attribute_vectors", "weights_id", "stage_gammas", "metrics"):
        state.setdefault(key, None)
    state["test_sweep_gamma"] = (state["metrics"] or {}).get("test_sweep_gamma")
    if "normalizer" not in state:  # l2 and none need no statistics; minmax and zscore had them unsaved
        method = state["config"].get("data", {}).get("normalize")
        state["normalizer"] = SemanticsNormalizer(method).state() if method in ("l2", "none") else None
    training = {key: state.pop(key) for key in ("optimizer", "scaler", "run_state") if key in state}
    state["training"] = training or None
    return state


UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _upgrade_from_0}  # version -> next


def _upgraded(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """A saved dict brought to :data:`SCHEMA_VERSION`, its config's too (``upgrade_saved``)."""
    version = state.pop("schema_version", 0)
    if not isinstance(version, int) or not 0 <= version <= SCHEMA_VERSION:
        raise UserError(f"saved by another mgmrn version (schema version {version!r}; this one reads "
                        f"0 to {SCHEMA_VERSION})", path)
    missing = [key for key in REQUIRED if key not in state]
    if missing or not isinstance(state["model"], dict) or not isinstance(state["config"], dict):
        raise UserError(f"damaged checkpoint: {'no ' + ', '.join(missing) if missing else 'model or config is not a mapping'}",
                        path)
    upgrade_saved(state["config"])
    for old in range(version, SCHEMA_VERSION):
        state = UPGRADES[old](state)
    fields = [f.name for f in dataclasses.fields(SavedRun) if f.default is dataclasses.MISSING]
    missing = [key for key in fields if key not in state and key != "weights"]
    if missing:
        raise UserError(f"damaged checkpoint: no {', '.join(missing)}", path)
    return state
