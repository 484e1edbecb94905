"""What a reader sees: convergence figures (``plots``) and slider explorers (``widgets``).

Needs the extras ``em_helpers[plots]`` / ``em_helpers[widgets]``; :mod:`em_helpers` resolves
these names lazily, so the core never imports matplotlib or ipywidgets.
"""
