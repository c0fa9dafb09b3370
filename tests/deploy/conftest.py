"""Deploy test fixtures: a moto server on 127.0.0.1 with fake credentials in the environment, the CLI run in-process,
botocore clients wrapped by a Stubber (which checks every request and response against AWS's service model)."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "archc-test-secret-Zq9vX2"  # must never show up in anything archc prints or writes
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAARCHCTESTKEY0001",
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/archc-test-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/archc-test-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
ACCOUNT = "123456789012"  # moto's default account


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MOTO_SERVER = _load("archc_moto_server", ROOT / "examples" / "moto" / "server.py")  # moto's gaps, filled (documented there)


@pytest.fixture(scope="session")
def moto_endpoint():
    """One moto server for the session (two regions side by side); state is reset per test by `moto`."""
    from moto.server import ThreadedMotoServer

    mp = pytest.MonkeyPatch()
    for key, value in FAKE_ENV.items():
        mp.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"):
        mp.delenv(key, raising=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    MOTO_SERVER.patch()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    mp.undo()


@pytest.fixture
def moto(moto_endpoint):
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10).read()
    return moto_endpoint


@pytest.fixture
def boto(moto):
    """boto3 clients on the moto server, to look at what archc did."""
    import boto3

    return lambda service, region="us-east-1": boto3.client(service, region_name=region, endpoint_url=moto)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: object, input: str | None = None) -> Run:
    """`archc ARGS` in this process through the real entry point (exit codes and error printing included)."""
    from click.testing import CliRunner

    from compiler.cli import main

    runner = CliRunner()
    with runner.isolation(input=input) as (out, err, _):
        saved, sys.argv = sys.argv, ["archc", *map(str, args)]
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        finally:
            sys.argv = saved
        return Run(code, out.getvalue().decode(), err.getvalue().decode())


@pytest.fixture(scope="session")
def moto_stacks():
    """tests/deploy/demo_stacks.py: three small stacks in two regions, written through archc's emit."""
    from . import demo_stacks

    return demo_stacks


def flat(text: str) -> str:
    """Terminal output with its line wrapping undone (the review wraps at 100 columns)."""
    return " ".join(text.split())


def read_plan(out: Path, env: str = "dev") -> dict:
    return json.loads((out / env / "plan.json").read_text())


def stub_aws(*services: tuple[str, str]):
    """An Aws whose clients are real botocore clients wrapped by Stubbers: {(service, region): stubber}."""
    import boto3
    from botocore.stub import Stubber

    from compiler.deploy.aws import Aws

    clients, stubs = {}, {}
    for service, region in services:
        client = boto3.client(service, region_name=region, aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="example")
        clients[(service, region)] = client
        stubs[(service, region)] = Stubber(client)
        stubs[(service, region)].activate()
    return Aws(clients=clients), stubs
