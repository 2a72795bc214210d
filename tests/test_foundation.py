import pytest

from tests.tenancy import assert_guarded


@pytest.mark.django_db
def test_dashboard_is_guarded(tenant_a, tenant_b, client_for):
    assert_guarded(client_for, "/app/acme/", own=tenant_a, other=tenant_b, allowed_roles=("owner", "admin", "operator"))


@pytest.mark.django_db
def test_settings_is_managers_only(tenant_a, tenant_b, client_for):
    assert_guarded(client_for, "/app/acme/settings/", own=tenant_a, other=tenant_b, allowed_roles=("owner", "admin"))


@pytest.mark.django_db
def test_unknown_slug_is_404_for_members(tenant_a, client_for):
    assert client_for(tenant_a.owner).get("/app/nope/").status_code == 404


def test_docker_compose_runs_the_whole_stack():
    """`docker compose config -q` needs a Docker engine; this checks the file's shape where there is none."""
    from pathlib import Path

    import yaml

    compose = yaml.safe_load((Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    assert services["worker"]["command"][:6] == ["celery", "-A", "secdesk", "worker", "-Q", "textback,default"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "secdesk", "beat"]
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("web", "worker", "beat", "migrate"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://")
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # no default secret


def test_production_settings_pass_check_deploy():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        # not the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE (set process-wide for Playwright): production never has it
        **{key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "0",
        "SECRET_KEY": "x" * 50 + "-not-a-real-secret-but-long-enough",
        "ALLOWED_HOSTS": "seconddesk.example.com",
        "PUBLIC_BASE_URL": "https://seconddesk.example.com",
        "DJANGO_SETTINGS_MODULE": "secdesk.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_secret_key_is_required_when_debug_is_off():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(DEBUG="0", DJANGO_SETTINGS_MODULE="secdesk.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


@pytest.mark.django_db
def test_admin_login_is_rate_limited():
    from django.test import Client

    client = Client()
    statuses = [
        client.post("/admin/login/", {"username": "x@example.test", "password": "wrong"}).status_code for _ in range(6)
    ]
    assert statuses[:5] == [200] * 5 and statuses[5] == 429
