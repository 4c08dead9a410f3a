"""Shared test setup: Docker tests skip with a clear reason where Docker or the image is missing."""

from __future__ import annotations

import functools

import pytest

from harness.etcd import DEFAULT_IMAGE, docker_client


@functools.cache
def docker_skip_reason(image: str = DEFAULT_IMAGE) -> str | None:
    """None when Docker answers and ``image`` exists, else why not (and how to fix it)."""
    try:
        client = docker_client()
    except Exception as e:
        return f"Docker is not reachable ({e}); start Docker to run these tests"
    try:
        client.images.get(image)
    except Exception:
        return f"the image {image} is missing; build it with `make image`"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("docker") is not None:
            reason = docker_skip_reason()
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
