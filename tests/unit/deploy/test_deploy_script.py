"""`make deploy` cannot reach AWS here, so its dry run and a shell lint are the checks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "deploy.sh"


def dry_run(env: str) -> str:
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=ROOT,
        env={**os.environ, "DRY_RUN": "1", "ENV": env, "SAM": "sam", "AWS_REGION": "eu-west-1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(("env", "config_env"), [("dev", "default"), ("prod", "prod")])
def test_dry_run_builds_arm64_image_tagged_with_the_commit(env: str, config_env: str) -> None:
    out = dry_run(env)
    sha = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    image = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/ai-phone-calls-stream-{env}:{sha}"
    assert "--platform linux/arm64" in out
    assert f"-t {image}" in out
    assert ":latest" not in out
    assert "create-repository" in out and "IMMUTABLE" in out
    deploy = next(line for line in out.splitlines() if " deploy " in line)
    assert f"--config-env {config_env}" in deploy
    # Deployed by digest (a tag can move), built from a base image resolved to its digest.
    repository = image.rsplit(":", 1)[0]
    assert re.search(rf"StreamImageUri={re.escape(repository)}@sha256:[0-9a-f]{{64}}(\s|$)", deploy)
    assert re.search(r"CloudWatchAgentImage=\S+@sha256:[0-9a-f]{64}(\s|$)", deploy)
    build = next(line for line in out.splitlines() if "docker buildx" in line)
    assert re.search(r"--build-arg PYTHON_IMAGE=python@sha256:[0-9a-f]{64} ", build)
    # The command-line overrides replace samconfig's, so the environment's own must be carried along.
    assert f"Stage={env}" in deploy
    # The order matters: the image must exist before the stack points the service at it.
    assert out.index("docker buildx") < out.index(" build --parallel") < out.index(" deploy ")


def test_unknown_environment_is_refused() -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=ROOT,
        env={**os.environ, "DRY_RUN": "1", "ENV": "staging"},
        capture_output=True,
    )
    assert result.returncode == 2


def test_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    result = subprocess.run(
        [shellcheck, str(SCRIPT), str(ROOT / ".ci" / "run")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout
