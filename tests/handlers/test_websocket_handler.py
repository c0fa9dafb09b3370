"""handlers/websocket/app.py driven with full API Gateway WebSocket events; DynamoDB in moto.

The Management API goes either to moto (which stores every PostToConnection's data in its backend, but
never answers 410) or to a local HTTP stub (``mgmt_stub``) that records each post and answers 410
GoneException for chosen connection ids.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

import boto3
import botocore.client
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

TABLE = "fillup-test-connections"
REGION = "us-east-1"
ALLOWED_OPERATIONS = {"PutItem", "GetItem", "DeleteItem", "Scan", "PostToConnection"}
IAM_LINE = "# IAM: dynamodb:PutItem, dynamodb:GetItem, dynamodb:DeleteItem, dynamodb:Scan, execute-api:ManageConnections"


@pytest.fixture
def aws_calls(monkeypatch):
    """Every AWS operation the code under test calls (wraps botocore's single dispatch point)."""
    calls: list[tuple[str, str]] = []
    original = botocore.client.BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        calls.append((self.meta.service_model.service_name, operation_name))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return calls


@pytest.fixture
def ddb(aws_env, monkeypatch):
    """A moto DynamoDB table shaped like the real one: pk connectionId (S), TTL on expiresAt."""
    monkeypatch.setenv("CONNECTIONS_TABLE", TABLE)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "connectionId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "connectionId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.update_time_to_live(
            TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"})
        yield client


def stored_ids(ddb) -> set[str]:
    return {i["connectionId"]["S"] for i in ddb.scan(TableName=TABLE)["Items"]}


def connect(ws_app, make_ws_event, *ids):
    for cid in ids:
        assert ws_app.handler(make_ws_event("$connect", cid))["statusCode"] == 200


def assert_ws_error(resp, status, code, event):
    assert resp["statusCode"] == status
    body = json.loads(resp["body"])
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "requestId", "timestamp"}
    assert err["code"] == code
    assert err["requestId"] == event["requestContext"]["requestId"]
    ts = datetime.fromisoformat(err["timestamp"].replace("Z", "+00:00"))
    assert ts.utcoffset() == timedelta(0) and abs(datetime.now(timezone.utc) - ts) < timedelta(seconds=30)
    return err


# ---------------------------------------------------------------------------------------------- connect / disconnect


def test_connect_writes_item_with_ttl(ws_app, ddb, make_ws_event):
    now_ms = int(time.time() * 1000)
    event = make_ws_event("$connect", "L0SM9cOFvHcCIhw=", connected_at_ms=now_ms)
    assert ws_app.handler(event) == {"statusCode": 200}
    item = ddb.get_item(TableName=TABLE, Key={"connectionId": {"S": "L0SM9cOFvHcCIhw="}})["Item"]
    assert item["connectedAt"] == {"N": str(now_ms // 1000)}
    assert item["expiresAt"] == {"N": str(now_ms // 1000 + 2 * 60 * 60)}


def test_connect_is_idempotent_for_a_retried_connect(ws_app, ddb, make_ws_event):
    event = make_ws_event("$connect", "dup=")
    assert ws_app.handler(event)["statusCode"] == 200
    assert ws_app.handler(event)["statusCode"] == 200
    assert stored_ids(ddb) == {"dup="}


def test_connect_without_table_refuses_connection_without_leaking(ws_app, make_ws_event, monkeypatch):
    monkeypatch.delenv("CONNECTIONS_TABLE", raising=False)
    with mock_aws():
        event = make_ws_event("$connect", "x=")
        resp = ws_app.handler(event)
    err = assert_ws_error(resp, 500, "INTERNAL_SERVER_ERROR", event)
    assert "CONNECTIONS_TABLE" not in err["message"]


def test_disconnect_deletes_item(ws_app, ddb, make_ws_event):
    connect(ws_app, make_ws_event, "keep=", "leave=")
    assert stored_ids(ddb) == {"keep=", "leave="}
    assert ws_app.handler(make_ws_event("$disconnect", "leave="))["statusCode"] == 200
    assert stored_ids(ddb) == {"keep="}


# ---------------------------------------------------------------------------------------------- sendMessage


def test_broadcast_through_moto_management_api(ws_app, ddb, make_ws_event, make_send_message):
    """No WEBSOCKET_ENDPOINT: the endpoint is built from requestContext; moto keeps what was posted."""
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    ids = ["aaa=", "bbb=", "ccc="]
    connect(ws_app, make_ws_event, *ids)
    resp = ws_app.handler(make_send_message("aaa=", "drink water 💧"))
    assert resp["statusCode"] == 200
    assert json.loads(resp["body"]) == {"recipients": 3, "delivered": 3, "removed": 0, "failed": 0}

    backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][REGION]
    # moto keys its store by the id as it appears in the request path, i.e. URL-escaped ("aaa%3D").
    posted = {unquote(k): v.data for k, v in backend.connections.items()}
    assert set(posted) == set(ids)  # every connection, nobody else
    for cid in ids:
        msg = json.loads(posted[cid])
        assert msg["type"] == "message" and msg["message"] == "drink water 💧"
        assert msg["sentAt"].endswith("Z")


def test_broadcast_reaches_all_and_removes_gone_connection(ws_app, ddb, mgmt_stub, make_ws_event, make_send_message):
    ids = ["one=", "two=", "three=", "gone/1+="]  # characters that must be URL-escaped in the path
    connect(ws_app, make_ws_event, *ids)
    mgmt_stub.gone.add("gone/1+=")

    resp = ws_app.handler(make_send_message("one=", "hello"))
    assert resp["statusCode"] == 200
    assert json.loads(resp["body"]) == {"recipients": 4, "delivered": 3, "removed": 1, "failed": 0}

    assert sorted(cid for cid, _ in mgmt_stub.posts) == sorted(ids)  # one POST per connection, no retries
    for cid in ["one=", "two=", "three="]:
        [msg] = mgmt_stub.bodies_for(cid)
        assert msg["message"] == "hello"
    assert stored_ids(ddb) == {"one=", "two=", "three="}  # the 410 connection was deleted


def test_broadcast_skips_expired_items_not_yet_reaped_by_ttl(ws_app, ddb, mgmt_stub, make_ws_event, make_send_message):
    connect(ws_app, make_ws_event, "live=")
    ddb.put_item(TableName=TABLE, Item={"connectionId": {"S": "stale="},
                                        "expiresAt": {"N": str(int(time.time()) - 60)}})
    resp = ws_app.handler(make_send_message("live=", "hi"))
    assert json.loads(resp["body"])["recipients"] == 1
    assert [cid for cid, _ in mgmt_stub.posts] == ["live="]


def test_message_at_cap_is_accepted(ws_app, ddb, mgmt_stub, make_ws_event, make_send_message):
    connect(ws_app, make_ws_event, "a=")
    resp = ws_app.handler(make_send_message("a=", "x" * 32 * 1024))
    assert resp["statusCode"] == 200
    assert len(mgmt_stub.bodies_for("a=")[0]["message"]) == 32 * 1024


@pytest.mark.parametrize("message", ["x" * (32 * 1024 + 1), "é" * (16 * 1024 + 1)])  # bytes, not characters
def test_oversized_message_is_rejected(ws_app, ddb, mgmt_stub, make_ws_event, make_send_message, message):
    connect(ws_app, make_ws_event, "sender=", "other=")
    event = make_send_message("sender=", message)
    resp = ws_app.handler(event)
    assert_ws_error(resp, 400, "MESSAGE_TOO_LARGE", event)
    # Nothing was broadcast; only the sender was told why.
    assert [cid for cid, _ in mgmt_stub.posts] == ["sender="]
    assert mgmt_stub.bodies_for("sender=")[0]["error"]["code"] == "MESSAGE_TOO_LARGE"


@pytest.mark.parametrize("body", ["not json", "", "[1, 2]", '{"action": "sendMessage"}',
                                  '{"action": "sendMessage", "message": 42}',
                                  '{"action": "sendMessage", "message": "   "}'])
def test_invalid_send_message_body_is_400(ws_app, ddb, mgmt_stub, make_ws_event, body):
    connect(ws_app, make_ws_event, "s=", "t=")
    event = make_ws_event("sendMessage", "s=", body=body)
    resp = ws_app.handler(event)
    assert_ws_error(resp, 400, "BAD_REQUEST", event)
    assert "t=" not in {cid for cid, _ in mgmt_stub.posts}


def test_base64_encoded_send_message(ws_app, ddb, mgmt_stub, make_ws_event):
    connect(ws_app, make_ws_event, "b=")
    event = make_ws_event("sendMessage", "b=", body=json.dumps({"action": "sendMessage", "message": "ok"}),
                          base64_body=True)
    assert ws_app.handler(event)["statusCode"] == 200
    assert mgmt_stub.bodies_for("b=")[0]["message"] == "ok"


# ---------------------------------------------------------------------------------------------- $default


def test_default_replies_to_sender_only(ws_app, ddb, mgmt_stub, make_ws_event):
    connect(ws_app, make_ws_event, "asker=", "bystander=")
    event = make_ws_event("$default", "asker=", body=json.dumps({"action": "dance"}))
    resp = ws_app.handler(event)
    assert resp["statusCode"] == 200
    assert [cid for cid, _ in mgmt_stub.posts] == ["asker="]
    [reply] = mgmt_stub.bodies_for("asker=")
    assert reply["type"] == "help" and reply["validActions"] == ["sendMessage"]
    assert "sendMessage" in reply["message"] and "dance" in reply["message"]


def test_default_with_non_json_body_still_gets_help(ws_app, ddb, mgmt_stub, make_ws_event):
    resp = ws_app.handler(make_ws_event("$default", "raw=", body="hello?"))
    assert resp["statusCode"] == 200
    assert mgmt_stub.bodies_for("raw=")[0]["validActions"] == ["sendMessage"]


# ---------------------------------------------------------------------------------------------- IAM, logging


def test_only_the_granted_aws_actions_are_used(ws_app, ddb, mgmt_stub, make_ws_event, make_send_message, aws_calls):
    connect(ws_app, make_ws_event, "p=", "q=")
    mgmt_stub.gone.add("q=")
    ws_app.handler(make_ws_event("$default", "p=", body="{}"))
    ws_app.handler(make_send_message("p=", "hi"))
    ws_app.handler(make_send_message("p=", "x" * 40_000))
    ws_app.handler(make_ws_event("$disconnect", "p="))
    assert {op for _, op in aws_calls} == ALLOWED_OPERATIONS
    assert IAM_LINE in ws_app.__doc__.splitlines()


def test_websocket_log_lines_are_json(ws_app, ddb, make_ws_event, capsys):
    event = make_ws_event("$connect", "log=")
    ws_app.handler(event)
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert lines[-1]["requestId"] == event["requestContext"]["requestId"]
    assert lines[-1]["routeKey"] == "$connect" and lines[-1]["status"] == 200
    assert re.fullmatch(r"\d+(\.\d+)?", str(lines[-1]["durationMs"]))


# $connect signed with identity-pool credentials (api.websocket.auth: iam): the identity fields AWS fills in.
SIGNER = {"accountId": "123456789012", "caller": "AROAEXAMPLE:CognitoIdentityCredentials",
          "cognitoIdentityId": "ap-northeast-1:5f0c2a4e-1b7d-4c55-9d3e-0a9b8c7d6e5f",
          "cognitoIdentityPoolId": "ap-northeast-1:3c4d5e6f-0000-4abc-9def-1234567890ab", "cognitoAuthenticationType": "authenticated",
          "userArn": "arn:aws:sts::123456789012:assumed-role/fillup-auth/CognitoIdentityCredentials", "accessKey": "ASIAEXAMPLE"}


def test_every_broadcast_names_its_authenticated_sender(ws_app, ddb, mgmt_stub, make_ws_event, make_send_message):
    assert ws_app.handler(make_ws_event("$connect", "alice=", signer=SIGNER))["statusCode"] == 200
    connect(ws_app, make_ws_event, "bob=")
    ws_app.handler(make_send_message("alice=", "hello"))
    [msg] = mgmt_stub.bodies_for("bob=")
    assert msg["from"] == SIGNER["cognitoIdentityId"] and msg["message"] == "hello"


def test_a_message_from_an_unregistered_connection_is_refused(ws_app, ddb, mgmt_stub, make_ws_event, make_send_message):
    connect(ws_app, make_ws_event, "bob=")
    resp = ws_app.handler(make_send_message("mallory=", "hi all"))
    assert resp["statusCode"] == 403 and json.loads(resp["body"])["error"]["code"] == "NOT_CONNECTED"
    assert mgmt_stub.bodies_for("bob=") == []  # nobody received it
