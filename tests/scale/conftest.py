"""The Ray tests' cluster: one local Ray cluster (2 CPUs) per test module, shut down after it.

Without Ray installed the tests that use it fail, saying so; deselect them with -m 'not ray'.
"""

import os

import pytest


@pytest.fixture(scope="module")
def ray_cluster():
    try:
        import ray
    except ImportError:
        pytest.fail(
            'ray is not installed: pip install -e ".[ray]", or deselect these tests with '
            "-m 'not ray'.",
            pytrace=False,
        )
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
