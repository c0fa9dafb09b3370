"""Connections: what each access level a function may hold on a resource grants (actions per ARN scope, the KMS
actions on the resource's key, the environment variable). The README's table is this data; a test keeps them equal."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Grant:
    scope: str  # which ARN the actions apply to: bucket, objects, table, indexes, queue, function, secret
    actions: tuple[str, ...]


_BUCKET_READ = (Grant("bucket", ("s3:ListBucket",)), Grant("objects", ("s3:GetObject", "s3:GetObjectVersion")))
_BUCKET_WRITE = (Grant("objects", ("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject")),)
_TABLE_READ = (Grant("table", ("dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
                               "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan")),
               Grant("indexes", ("dynamodb:Query", "dynamodb:Scan")))
_TABLE_WRITE = (Grant("table", ("dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem")),)
_SEND = (Grant("queue", ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage")),)
_CONSUME = (Grant("queue", ("sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
                            "sqs:ReceiveMessage")),)

# (kind, level) -> grants on the resource itself
ACTIONS: dict[tuple[str, str], tuple[Grant, ...]] = {
    ("buckets", "read"): _BUCKET_READ,
    ("buckets", "write"): _BUCKET_WRITE,
    ("buckets", "read-write"): _BUCKET_READ + _BUCKET_WRITE,
    ("tables", "read"): _TABLE_READ,
    ("tables", "write"): _TABLE_WRITE,
    ("tables", "read-write"): _TABLE_READ + _TABLE_WRITE,
    ("queues", "send"): _SEND,
    ("queues", "consume"): _CONSUME,
    ("queues", "send-consume"): _SEND + _CONSUME,
    ("database", "connect"): (Grant("user", ("rds-db:connect",)),),  # IAM authentication as the function's own user
    ("functions", "invoke"): (Grant("function", ("lambda:InvokeFunction",)),),
}

# (kind, level) -> actions on the resource's customer-managed key, when it has one (used through that service only)
KEY_ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("buckets", "read"): ("kms:Decrypt",),
    ("buckets", "write"): ("kms:Decrypt", "kms:GenerateDataKey"),  # multipart uploads decrypt the parts they join
    ("buckets", "read-write"): ("kms:Decrypt", "kms:GenerateDataKey"),
    ("tables", "read"): ("kms:Decrypt",),
    ("tables", "write"): ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"),
    ("tables", "read-write"): ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"),
    ("queues", "send"): ("kms:Decrypt", "kms:GenerateDataKey"),
    ("queues", "consume"): ("kms:Decrypt",),
    ("queues", "send-consume"): ("kms:Decrypt", "kms:GenerateDataKey"),
}

# kind -> the environment variable's suffix (database: the whole name)
ENV_SUFFIX = {"buckets": "BUCKET", "tables": "TABLE", "queues": "QUEUE_URL", "functions": "FUNCTION"}
DATABASE_HOST_ENV = "DB_HOST"  # the database in the function's region
DATABASE_PORT_ENV = "DB_PORT"
DATABASE_NAME_ENV = "DB_NAME"
DATABASE_USER_ENV = "DB_USER"  # the function's own database user: it signs in with an IAM token (rds.generate_db_auth_token)
DATABASE_ENVS = (DATABASE_HOST_ENV, DATABASE_PORT_ENV, DATABASE_NAME_ENV, DATABASE_USER_ENV)


def database_user(function: str) -> str:
    """A function's PostgreSQL user: its own (never the master, whose password rotates: rds_iam would disable it)."""
    return "fn_" + function.replace("-", "_")


def scopes(kind: str, level: str) -> dict[str, tuple[str, ...]]:
    """The actions of one access level, merged per ARN scope and sorted (as the compiled statements hold them)."""
    merged: dict[str, set[str]] = {}
    for grant in ACTIONS[(kind, level)]:
        merged.setdefault(grant.scope, set()).update(grant.actions)
    return {scope: tuple(sorted(actions)) for scope, actions in merged.items()}


def markdown_table() -> str:
    """The README's table of access levels (a test checks the README holds exactly this)."""
    rows = ["| kind | level | actions, by ARN | on the resource's KMS key | environment variable |", "|---|---|---|---|---|"]
    for kind, level in ACTIONS:
        actions = "; ".join(f"{scope}: {', '.join(a)}" for scope, a in scopes(kind, level).items())
        env = "`, `".join(DATABASE_ENVS) if kind == "database" else f"NAME_{ENV_SUFFIX[kind]}"
        rows.append(f"| `{kind}` | `{level}` | {actions} | {', '.join(KEY_ACTIONS.get((kind, level), ())) or '-'} | `{env}` |")
    return "\n".join(rows) + "\n"
