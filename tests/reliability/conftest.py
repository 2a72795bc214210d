"""Fixtures for the reliability tests: a deployment on a scratch database, stopped (and its logs shown on failure)
after every test."""

import os
import re
from pathlib import Path

import pytest

from tests.reliability.harness import Deployment, drop_database, scratch_database

PG_URL = os.environ.get("RELY_PG_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("RELY_REDIS_URL", "redis://127.0.0.1:6379/11")


def pytest_collection_modifyitems(items):
    """Everything in this folder is a reliability test, whether or not the test remembered the marker."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.reliability)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rely_report_{report.when}", report)
    return report


@pytest.fixture
def deploy(request, tmp_path):
    """Make a Deployment (same arguments as Deployment, minus database_url, redis_url and log_dir) on a fresh scratch
    database named after this test file and the xdist worker; it is prepared (migrated and seeded) but not started.
    Stopped after the test, whatever happened; its database is dropped after a pass, and on failure every
    process's log tail is printed."""
    made: list[Deployment] = []
    worker_id = os.environ.get("PYTEST_XDIST_WORKER", "main")
    stem = re.sub(r"\W", "_", Path(request.node.fspath).stem.removeprefix("test_"))[:30]

    def make(**kwargs) -> Deployment:
        name = f"rely_a_{stem}_{worker_id}_{len(made)}"
        deployment = Deployment(
            database_url=scratch_database(PG_URL, name),
            redis_url=REDIS_URL,
            log_dir=tmp_path / f"logs-{len(made)}",
            **kwargs,
        )
        made.append(deployment)
        deployment.prepare()
        return deployment

    yield make
    failed = any(
        getattr(getattr(request.node, f"rely_report_{when}", None), "failed", False) for when in ("setup", "call")
    )
    for deployment in made:
        deployment.stop()
        if failed:
            print(deployment.logs(), flush=True)  # the database is kept for a post-mortem too
        else:
            drop_database(deployment.database_url)
