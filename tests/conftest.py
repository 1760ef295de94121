"""Shared fixtures: the local Hub server (`hub_server`, `hub_server_module`) from tests/hub_server.py."""

pytest_plugins = ["hub_server"]
