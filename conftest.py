"""Repository-wide pytest configuration: nbval also sweeps each notebook's sliders."""

pytest_plugins = ["tests.nbval_slider_ends"]
