"""How alike the classes of a zero-shot split are: validation class sets against the test's.

For the ``cub100`` preset's pseudo-unseen validation classes (one set per ``data.val_seed``)
and for the unseen test classes, prints the mean cosine between each class's attribute
vector and its nearest other class in the same set, how many classes have such a sibling
above ``--close``, and the closest pairs. ZSL top-1 on a set measures how well the model
tells apart the classes of that set, so a set without close siblings cannot show a change
that only helps to separate siblings.

    .venv/bin/python benchmarks/class_similarity.py --val-seeds 0,1,2
"""

from __future__ import annotations

import argparse

import numpy as np

import _bench
from mgmrn.config import load_config
from mgmrn.data.build import build_data


def similarity(attributes: np.ndarray, classes: np.ndarray, names: list[str], close: float) -> list[str]:
    """Table cells for one class set."""
    a = attributes[classes]
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    cos = a @ a.T
    np.fill_diagonal(cos, -1)
    nearest = cos.max(1)
    upper = np.triu_indices(len(classes), 1)
    order = np.argsort(-cos[upper], kind="stable")[:3]
    pairs = "; ".join(f"{names[classes[upper[0][k]]]} / {names[classes[upper[1][k]]]} {cos[upper][k]:.3f}"
                      for k in order)
    return [str(len(classes)), f"{nearest.mean():.3f}", str(int((nearest > close).sum())), pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cub100")
    parser.add_argument("--val-seeds", default="0,1,2", help="comma-separated data.val_seed values")
    parser.add_argument("--close", type=float, default=0.85, help="cosine above which a class has a sibling")
    args = parser.parse_args()
    info = _bench.machine()
    rows = []
    data = None
    for seed in [int(s) for s in args.val_seeds.split(",")]:
        data = build_data(load_config(args.preset, [f"data.val_seed={seed}"]).data)
        att = np.asarray(data.attributes, dtype=np.float64)
        rows.append([f"validation, val_seed={seed}",
                     *similarity(att, np.asarray(data.val.val_unseen_classes), data.classes, args.close)])
    assert data is not None
    rows.append(["test unseen", *similarity(np.asarray(data.attributes, dtype=np.float64),
                                            np.asarray(data.unseen), data.classes, args.close)])
    print(_bench.table(["class set", "classes", "mean nearest-class cosine",
                        f"classes with a sibling above {args.close}", "closest pairs"], rows))
    print(_bench.machine_line(info))
    print("command:", _bench.command())


if __name__ == "__main__":
    main()
