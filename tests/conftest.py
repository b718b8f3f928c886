"""Shared pytest set-up: each line registers one fixture module."""

pytest_plugins = ["tests.prometheus_fixture", "tests.k8s_fixtures"]
