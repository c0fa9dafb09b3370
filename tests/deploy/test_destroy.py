"""archc destroy against a moto server: consumers before producers, what stays behind listed from the deployed
templates, termination protection refused unless named, the question asked unless --yes."""

from __future__ import annotations

import json

from .conftest import run_cli
from .test_flow import APP, BASE_E, BASE_W, E1, W2, deploy_v1


def _destroy(out, moto, *extra, input=None):
    return run_cli("destroy", "--env", "dev", "--out", out, "--endpoint-url", moto, "--poll", "0.05", *extra, input=input)


def _exists(boto, region, name):
    try:
        return boto("cloudformation", region).describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] != "DELETE_COMPLETE"
    except Exception as e:  # moto: ValidationError "Stack with id ... does not exist"
        assert "does not exist" in str(e)
        return False


def test_destroy_deletes_consumers_first_and_lists_what_stays(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    deploy_v1(out, moto, moto_stacks)
    r = _destroy(out, moto, "--json", "--yes")
    assert r.code == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert [x["id"] for x in doc["results"]][0] == APP  # the app stack reads the base stacks: it goes first
    assert {x["id"] for x in doc["results"]} == {APP, BASE_E, BASE_W} and all(x["state"] == "deleted" for x in doc["results"])
    kept = {(k["stack"], k["logical_id"]): k for k in doc["kept"]}
    queue = kept[(BASE_W, "BaseQueue")]  # Retain in the deployed template: the queue and its messages stay
    assert queue["kept_as"] == "retained" and queue["physical_id"].endswith("demo-dev-jobs")
    assert "stays in us-west-2" in queue["where"]
    assert (BASE_W, "BaseTopic") not in kept  # deleted with its stack
    events = r.stderr
    assert events.index(f"{APP}: deleting") < events.index(f"{BASE_E}: deleting")
    for region, name in ((E1, "demo-dev-app"), (E1, "demo-dev-base"), (W2, "demo-dev-base")):
        assert not _exists(boto, region, name)
    again = _destroy(out, moto, "--yes")
    assert again.code == 0 and "nothing to destroy" in again.stdout


def test_a_protected_stack_is_refused_unless_named_and_nothing_is_deleted(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    deploy_v1(out, moto, moto_stacks)
    boto("cloudformation", W2).update_termination_protection(StackName="demo-dev-base", EnableTerminationProtection=True)
    r = _destroy(out, moto, "--yes")
    assert r.code == 3 and f"nothing deleted: {BASE_W} has termination protection" in r.stderr
    assert _exists(boto, E1, "demo-dev-app") and _exists(boto, W2, "demo-dev-base")  # not even the consumers
    r = _destroy(out, moto, "--yes", "--allow-protected", BASE_W)
    assert r.code == 0, r.stdout + r.stderr
    assert "termination protection off" in r.stdout and not _exists(boto, W2, "demo-dev-base")


def test_destroy_asks_first_and_keeps_what_others_read(moto, boto, moto_stacks, tmp_path):
    out = tmp_path / "out"
    deploy_v1(out, moto, moto_stacks)
    r = _destroy(out, moto, input="n\n")
    assert r.code != 0 and "aborted" in r.stderr
    assert _exists(boto, E1, "demo-dev-app")
    r = _destroy(out, moto, "--yes", "--stack", BASE_E)  # the app stack, kept, reads it
    assert r.code == 3 and f"{BASE_E} is read by stacks you keep ({APP})" in r.stderr
    assert _exists(boto, E1, "demo-dev-base")
    r = _destroy(out, moto, "--yes", "--stack", APP)
    assert r.code == 0 and not _exists(boto, E1, "demo-dev-app") and _exists(boto, E1, "demo-dev-base")
