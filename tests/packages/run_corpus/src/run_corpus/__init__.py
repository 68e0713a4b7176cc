"""Workflows whose phases and outputs are known, for the tests of `hera-build run`."""
