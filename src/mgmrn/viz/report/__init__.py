"""``mgmrn report``: the paper's figures (Fig. 3-8) for one or several runs, and one HTML page.

One module per concept: :mod:`.runs` (a run folder and its label), :mod:`.predictions` (the
test predictions, computed once and cached in the run folder), one module per figure
(:mod:`.metrics_table`, :mod:`.seen_unseen`, :mod:`.training`, :mod:`.per_class`,
:mod:`.attribute_error`, :mod:`.embedding` with :mod:`.tsne`, :mod:`.attention`,
:mod:`.sweep`), :mod:`.figure` (PNG and SVG files), :mod:`.page` (the HTML) and
:mod:`.build` (all of it: :func:`~mgmrn.viz.report.build.write_report`).
"""
