"""Fig. 6: t-SNE of the visual features of up to 9 seen and 9 unseen test classes: the seen and
the unseen classes in panels of their own (the paper's view), and both together with every
class's attribute prototype (the joint view: where an unseen class falls among the seen ones).

The features are those the class scores are computed from: each stage's predicted attribute
vector z_l (Eq. 10), unit-normalised (Eq. 11 and 14 take cosines) and concatenated over the
stages. A class's prototype is its attribute vector a_c in the same space: unit-normalised and
repeated for every stage (a prediction equal to it scores the class highest at every stage).
The classes (at random, with a fixed seed) and their images (up to 20 each) are the same for
every run of the same data set, so that the panels compare.

Colours: a class whose name holds a colour word (``..._green``, ``Red_winged_Blackbird``) is
drawn in a shade of that colour; the others take colours that no class in the figure names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure

from mgmrn.viz.report.attribute_error import unit
from mgmrn.viz.report.figure import new_figure
from mgmrn.viz.report.page import Section
from mgmrn.viz.report.predictions import Predictions
from mgmrn.viz.report.runs import Run
from mgmrn.viz.report.tsne import tsne

CLASSES, IMAGES, SEED = 9, 20, 0
# colour word -> its base colour; a class takes a shade of it (several may name the same colour)
BASES = {"red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4", "yellow": "#e6c200", "orange": "#ff7f0e",
         "purple": "#7b3f9e", "pink": "#e377c2", "brown": "#8c564b", "black": "#222222", "white": "#f5f5f5",
         "grey": "#8a8a8a", "olive": "#808000", "cyan": "#17becf"}
MIX = (0.0, -0.45, 0.45, -0.7, 0.25)  # toward black (< 0) or white (> 0)


def _shade(base: str, mix: float) -> str:
    rgb = np.array(to_rgb(base))
    return to_hex(rgb + mix * (1.0 - rgb) if mix > 0 else rgb * (1.0 + mix))


SHADES = {word: tuple(dict.fromkeys(_shade(base, m) for m in MIX)) for word, base in BASES.items()}
ALIASES = {"gray": "grey", "violet": "purple", "crimson": "red", "scarlet": "red", "golden": "yellow",
           "gold": "yellow", "rufous": "brown", "chestnut": "brown", "cerulean": "blue", "indigo": "blue",
           "vermilion": "red", "magenta": "pink", "rose": "pink", "teal": "cyan", "buff": "brown"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def colour_word(name: str) -> str | None:
    """The first colour word among a class name's words (``_``, ``-``, space or case apart)."""
    for word in re.split(r"[_\-\s.]+|(?<=[a-z])(?=[A-Z])", name):
        word = ALIASES.get(word.lower(), word.lower())
        if word in SHADES:
            return word
    return None


def class_colours(names: Sequence[str]) -> dict[str, str]:
    """A colour per class: a shade of the colour its name says, else one of a colour no class
    in ``names`` says (cycling when there are more classes than such colours)."""
    words = {n: colour_word(n) for n in names}
    named = set(words.values())
    free = [shade for word, shades in SHADES.items() if word not in named and word not in ("white", "black")
            for shade in shades[:2]]
    used: dict[str, int] = {}
    colours = {}
    for k, name in enumerate(n for n in names if words[n] is None):
        colours[name] = free[k % len(free)] if free else "#7f7f7f"
    for name in names:
        word = words[name]
        if word is not None:
            colours[name] = SHADES[word][used.get(word, 0) % len(SHADES[word])]
            used[word] = used.get(word, 0) + 1
    return colours


def features(z: np.ndarray) -> np.ndarray:
    """(N, L * A): the unit-normalised predictions of every stage, side by side."""
    return unit(z.astype(np.float64)).reshape(len(z), -1)


def choose(labels: np.ndarray, classes: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Rows of up to ``IMAGES`` test images of each of up to ``CLASSES`` of ``classes``."""
    rng = np.random.default_rng(seed)
    present = np.intersect1d(classes, labels)
    picked = np.sort(rng.choice(present, min(CLASSES, present.size), replace=False))
    rows = [rng.choice(np.flatnonzero(labels == c), min(IMAGES, int((labels == c).sum())), replace=False)
            for c in picked]
    return np.sort(np.concatenate(rows))


@dataclass
class Panel:
    """One t-SNE: ``points`` (n, 2) of the images of ``split`` classes (``seen``, ``unseen`` or
    ``joint``), their labels, and in the joint view the classes' prototypes (``prototypes``:
    (classes, 2), in the order of ``names``; empty otherwise)."""

    run: str
    split: str
    points: np.ndarray
    labels: np.ndarray
    names: dict[int, str]  # class index -> name
    seen: set[int]  # the classes of ``names`` that are seen
    prototypes: np.ndarray


def prototypes(preds: Predictions, classes: np.ndarray) -> np.ndarray:
    """(C, L * A): each class's unit attribute vector repeated for every stage (see the module doc)."""
    a = unit(preds.data.attributes[classes].astype(np.float64))
    return np.tile(a, (1, preds.z.shape[1]))


def panels(run: Run, preds: Predictions) -> list[Panel]:
    """The seen, the unseen and the joint t-SNE of ``run``."""
    d = preds.data
    seen = {int(c) for c in d.seen}
    rows = {split: choose(preds.labels, classes) for split, classes in (("seen", d.seen), ("unseen", d.unseen))}
    found = []
    for split, picked in rows.items():
        labels = preds.labels[picked]
        names = {int(c): d.classes[c] for c in np.unique(labels)}
        found.append(Panel(run.label, split, tsne(features(preds.z[picked])), labels, names, seen, np.zeros((0, 2))))
    picked = np.concatenate(list(rows.values()))
    labels = preds.labels[picked]
    classes = np.unique(labels)
    points = tsne(np.concatenate([features(preds.z[picked]), prototypes(preds, classes)]))
    names = {int(c): d.classes[c] for c in classes}
    found.append(Panel(run.label, "joint", points[: len(picked)], labels, names, seen, points[len(picked):]))
    return found


TITLES = {"seen": "seen classes", "unseen": "unseen classes", "joint": "both, with class prototypes (stars)"}


def _panel(ax, panel: Panel, colours: dict[str, str]) -> None:
    for k, (c, name) in enumerate(panel.names.items()):
        at = panel.labels == c
        kind = "seen" if c in panel.seen else "unseen"
        marker = MARKERS[k % len(MARKERS)] if panel.split != "joint" else ("o" if kind == "seen" else "^")
        ax.scatter(*panel.points[at].T, s=16, marker=marker, color=colours[name], edgecolors="#333333",
                   linewidths=0.3, label=f"{name} ({kind})" if panel.split == "joint" else name)
    for (c, name), point in zip(panel.names.items(), panel.prototypes):
        ax.scatter(*point, s=220, marker="*", color=colours[name], edgecolors="black", linewidths=1, zorder=3)
    ax.set_title(f"{panel.run}: {TITLES[panel.split]}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def draw(found: Sequence[Panel], runs: int) -> Figure:
    """Rows: seen, unseen classes, both; columns: runs; each row's legend at its right."""
    figure = new_figure(4.2 * runs + 4.2, 13)
    axes = figure.subplots(3, runs, squeeze=False)
    for i, panel in enumerate(found):
        ax = axes[i % 3, i // 3]
        _panel(ax, panel, class_colours(list(found[i // 3 * 3 + 2].names.values())))  # the run's joint classes
        if i // 3 == runs - 1:
            ax.legend(fontsize=8 if panel.split == "joint" else 9, loc="center left", bbox_to_anchor=(1.0, 0.5),
                      frameon=False, markerscale=1.3)
    return figure


def section(runs: Sequence[Run], preds: Sequence[Predictions]) -> Section:
    found = [panel for run, p in zip(runs, preds) for panel in panels(run, p)]
    seen, unseen = (len(found[k].names) for k in (0, 1))
    caption = (f"t-SNE of the visual features (each stage's predicted attribute vector, normalised, "
               f"concatenated) of up to {IMAGES} test images of {seen} seen and {unseen} unseen classes "
               "chosen at random: the seen and the unseen classes apart (as in the paper), then together with "
               "each class's attribute vector in the same space (stars; circles: seen classes' images, "
               "triangles: unseen), where an unseen class can be placed among the seen ones. One column per "
               "run, the same classes and images in each. A class named after a colour is drawn in that colour.")
    return Section("tsne", "t-SNE of the visual features (Fig. 6)", caption, draw(found, len(runs)))
