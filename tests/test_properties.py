"""Property tests: whatever bytes and shapes the readers are given, they end in a result or a
one-line UserError, never in another exception."""

from __future__ import annotations

import io
import string
import tempfile
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mgmrn.config import Config, from_dict, load_config, parse_overrides, to_dict
from mgmrn.data.build import build_data
from mgmrn.data.config import DataConfig
from mgmrn.data.folder import read_class_attributes
from mgmrn.errors import UserError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def result_or_user_error(call):
    """``call()``'s result, or ``None`` for a UserError of one line; any other exception fails."""
    try:
        return call()
    except UserError as exc:
        assert "\n" not in str(exc), str(exc)
        return None


# ------------------------------------------------------------------ class-attribute CSV
WORDS = st.sampled_from(["class", "", " ", "a", "b", "has_wing", "nan", "inf", "-inf", "1e999", "0", "1.5", "-2",
                         "x,y", '"q"', "é", "\x00", "1e-400"])
CELL = st.one_of(WORDS, st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=5))
CSV_TEXT = st.lists(st.lists(CELL, max_size=6), max_size=6).map(
    lambda rows: "\n".join(",".join(row) for row in rows))


def _read_csv(content: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "class_attributes.csv"
        path.write_bytes(content)
        return result_or_user_error(lambda: read_class_attributes(path))


@SETTINGS
@given(st.one_of(st.binary(max_size=300), CSV_TEXT.map(str.encode)))
def test_class_attribute_csv_reader(content: bytes):
    result = _read_csv(content)
    if result is not None:
        classes, values, names = result
        assert values.shape == (len(classes), len(names)) and np.isfinite(values).all()
        assert len(set(classes)) == len(classes) and len(set(names)) == len(names)


# ------------------------------------------------------------------ folder dataset
def _png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (120, 30, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


NAME = st.text(alphabet=string.ascii_lowercase + "_. ", min_size=1, max_size=6).filter(lambda s: s.strip(". "))
FILE = st.tuples(NAME, st.sampled_from([".png", ".jpg", ".txt", ""]), st.sampled_from(["png", "garbage", "empty"]))
SPLIT = st.sampled_from(["train", "test_seen", "test_unseen", "val", ""])


@st.composite
def folder_sets(draw):
    """A folder data set of arbitrary shape: class folders with files, a CSV of class
    attributes (rows for some of them, maybe others), splits naming files (existing or not),
    and maybe an attribute-vector file of any shape or bytes."""
    classes = draw(st.lists(NAME, max_size=4, unique=True))
    files = {c: draw(st.lists(FILE, max_size=4)) for c in classes}
    attributes = draw(st.integers(0, 3))
    rows = draw(st.lists(st.sampled_from(classes + ["ghost"]) if classes else st.just("ghost"), max_size=5))
    values = draw(st.lists(st.floats(-3, 3) | st.sampled_from([float("nan"), 0.0]), min_size=attributes,
                           max_size=attributes))
    listed = [(f"{c}/{name}{ext}", draw(SPLIT)) for c in classes for name, ext, _ in files[c]]
    listed += draw(st.lists(st.tuples(NAME, SPLIT), max_size=2))
    vectors = draw(st.one_of(st.none(), st.binary(max_size=40), st.tuples(st.integers(0, 4), st.integers(0, 3))))
    return classes, files, attributes, rows, values, listed, vectors


def _write_folder(root: Path, shape) -> None:
    classes, files, attributes, rows, values, listed, vectors = shape
    for c in classes:
        for name, ext, kind in files[c]:
            path = root / "images" / c / f"{name}{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes({"png": _png(8), "garbage": b"not an image", "empty": b""}[kind])
    (root / "images").mkdir(exist_ok=True)
    header = ",".join(["class", *(f"att{i}" for i in range(attributes))])
    lines = [header] + [",".join([r, *(repr(v) for v in values)]) for r in rows]
    (root / "class_attributes.csv").write_text("\n".join(lines) + "\n")
    (root / "splits.csv").write_text("\n".join(["image,split", *(f"{i},{s}" for i, s in listed)]) + "\n")
    if isinstance(vectors, bytes):
        (root / "attribute_vectors.npy").write_bytes(vectors)
    elif vectors is not None:
        np.save(root / "attribute_vectors.npy", np.ones(vectors, dtype=np.float32))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(folder_sets())
def test_folder_dataset_reader(shape):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "set"
        root.mkdir()
        _write_folder(root, shape)
        cfg = DataConfig(format="folder", root=str(root), val_classes=0.0, image_size=32)
        data = result_or_user_error(lambda: build_data(cfg))
    if data is not None:
        assert len(data.attributes) == len(data.classes)
        assert set(data.seen).isdisjoint(data.unseen) and len(data.train) > 0


# ------------------------------------------------------------------ config parser
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                    st.text(max_size=8), st.sampled_from(["auto", "none", "1e-3", "sgd", "cub100", ".inf"]))
KEYS = st.sampled_from(["model", "data", "loss", "train", "eval", "seed", "base", "stages", "lr", "epochs",
                        "synthetic", "prototypes", "gamma_steps", "batch_size", "variant", "x"]) | st.text(max_size=4)
TREES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
                     max_leaves=12)


@SETTINGS
@given(st.dictionaries(KEYS, TREES, max_size=5))
def test_config_from_any_nested_mapping(values):
    cfg = result_or_user_error(lambda: from_dict(values))
    if cfg is not None:
        assert isinstance(cfg, Config) and from_dict(to_dict(cfg)) == cfg


@SETTINGS
@given(st.one_of(st.binary(max_size=200), TREES.map(lambda t: yaml.safe_dump(t).encode())))
def test_config_file_of_any_bytes(content: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_bytes(content)
        result_or_user_error(lambda: load_config(str(path)))
        result_or_user_error(lambda: load_config(str(path), saved=True))


@SETTINGS
@given(st.lists(st.text(alphabet=string.printable, max_size=20) | st.builds(
    "{}={}".format, st.sampled_from(["train.lr", "model.stages", "seed", "eval.gamma_steps", "data", "a.b.c"]),
    st.text(alphabet=string.printable, max_size=12)), max_size=4))
def test_config_overrides_of_any_text(pairs):
    result_or_user_error(lambda: load_config("demo", pairs))
    result_or_user_error(lambda: parse_overrides(pairs))
