"""Fixtures of tests/integration/cli (the `berth` CLI against the shared daemon)."""

from tests.integration.cli.conftest import berth  # noqa: F401
