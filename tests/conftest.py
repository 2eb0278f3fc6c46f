"""The suite's fixtures, from tests/support (the simulator, MongoDB, Redis).

The repository root is on ``sys.path`` through ``pythonpath`` in
``[tool.pytest.ini_options]``: ``sim``, ``crawler`` and ``tests.support`` import
as packages, with no path edits here."""

pytest_plugins = ["tests.support.fixtures"]
