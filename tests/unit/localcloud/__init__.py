"""Unit tests of the local cloud (a package, so its module names do not clash with tests/unit)."""
