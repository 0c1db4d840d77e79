"""Chart families; importing this package registers them all.

bar, hbar, grouped_bar, stacked_bar (bars.py), line, area (lines.py), pie, donut (pie.py),
scatter (scatter.py), histogram (histogram.py), box (box.py). Shared pieces: data.py (topics,
vocabularies, axes, values), style.py, layout.py (pixel layout and label checks), ask.py
(questions from the data table), base.py (the renderer base class).
"""

from renderers.charts import bars, box, histogram, lines, pie, scatter  # noqa: F401
