"""Not code: the chart vocabularies, shipped in the wheel as the data package
``renderers.charts.vocab`` (see pyproject.toml).
"""
