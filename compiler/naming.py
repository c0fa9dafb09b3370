"""Every name archc makes: stack names and concerns, export names, logical IDs, physical resource names."""

from __future__ import annotations

import re

# Stack concerns: `{app}-{env}-{concern}` says what a stack holds.
NETWORK = "network"
DATA = "data"  # the Postgres database and DynamoDB tables (in the DR region: the keys their copies are encrypted with)
STANDBY = "standby"  # the DR region's database: a cross-Region read replica, or the instance restored at failover
STORAGE = "storage"  # S3 buckets
QUEUES = "queues"
IMAGES = "images"  # ECR repositories (and, in the primary region, their replication to the DR region)
FUNCTIONS = "functions"
API = "api"  # REST and WebSocket APIs
EDGE = "edge"  # us-east-1: distributions, certificates, WAF, Lambda@Edge
CDN_ACCESS = "cdn-access"  # after the edge: bucket policies and Function URL permissions naming the distributions
ALARMS = "alarms"

DEFAULT_ENV = "default"  # the one environment of a spec without `environments:`


def camel(name: str) -> str:
    """`file_processor` or `image-cache` -> `FileProcessor` / `ImageCache`: user names become logical-ID parts."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name) if part)


def stack_name(app: str, env: str, concern: str) -> str:
    return f"{app}-{env}-{concern}"


def export_name(stack: str, output: str) -> str:
    return f"{stack}-{output}"


def logical_id(*parts: str) -> str:
    """`<Concern><Role><Kind>`: ('Data', 'orders', 'Table') -> 'DataOrdersTable'. A public promise: renaming replaces."""
    lid = "".join(camel(p) if p[:1].islower() or "_" in p or "-" in p else p for p in parts)
    if not re.fullmatch(r"[A-Za-z0-9]{1,255}", lid):
        raise ValueError(f"not a logical ID: {lid!r}")
    return lid


def resource_prefix(app: str, env: str) -> str:
    """Prefix for names AWS shows people (functions, tables, queues, alarms, log groups): `fillup-prod`."""
    return f"{app}-{env}"


def function_name(prefix: str, name: str) -> str:
    return f"{prefix}-{name}"


def function_log_group(prefix: str, name: str) -> str:
    return f"/aws/lambda/{function_name(prefix, name)}"


def function_dlq_name(prefix: str, name: str) -> str:
    return f"{prefix}-{name}-dlq"


def table_name(prefix: str, name: str) -> str:
    return f"{prefix}-{name}"


def queue_name(prefix: str, name: str) -> str:
    return f"{prefix}-{name}"


def queue_dlq_name(prefix: str, name: str) -> str:
    return f"{prefix}-{name}-dlq"


def repository_name(prefix: str, name: str) -> str:
    """`fillup-prod/processor`: one namespace per environment, which is also the replication filter."""
    return f"{prefix}/{name}"


def bucket_name(app: str, env: str, name: str, region: str) -> str:
    """Chosen by archc (S3 names are global) so that other stacks, regions and the edge code know it at compile time."""
    return f"{app}-{env}-{name}-{region}"


LOGS_BUCKET = "logs"  # the access-log bucket archc keeps per region when anything logs to S3


def rest_api_name(prefix: str) -> str:
    return f"{prefix}-rest"


def sampling_rule_name(prefix: str) -> str:
    """X-Ray rule names are unique per account and region, at most 32 characters: the prefix is (20 + 1 + 10)."""
    return prefix


def websocket_api_name(prefix: str) -> str:
    return f"{prefix}-ws"


def api_log_group(prefix: str, kind: str) -> str:
    return f"/aws/apigateway/{prefix}-{kind}"


def execution_log_group(stage: str) -> str:
    """The group API Gateway names for a REST stage's execution logs (a Sub: the API's id is known at deploy)."""
    return f"API-Gateway-Execution-Logs_${{ApiRestApi}}/{stage}"


def db_identifier(prefix: str) -> str:
    return f"{prefix}-db"


def rotation_function_name(prefix: str) -> str:
    return f"{prefix}-db-rotation"


def rotation_log_group(prefix: str) -> str:
    return f"/aws/lambda/{rotation_function_name(prefix)}"


def db_secret_name(prefix: str) -> str:
    """Named, so that a function finds the replica of the secret in the DR region by the same name."""
    return f"{prefix}/database"


def origin_verify_secret_name(prefix: str, region: str) -> str:
    """The origin-verify value of the REST API in a region; its replica in us-east-1 (for CloudFront) has the same name."""
    return f"{prefix}/origin-verify/{region}"


ORIGIN_VERIFY_HEADER = "x-origin-verify"  # CloudFront sends it to the REST API; the stage's web ACL lets nothing else in


def alarm_name(prefix: str, name: str) -> str:
    return f"{prefix}-{name}"


def budget_name(prefix: str) -> str:
    """Unique in the account (budgets are not regional)."""
    return f"{prefix}-monthly"


def alarm_topic_name(prefix: str) -> str:
    return f"{prefix}-alarms"


def edge_function_name(prefix: str, distribution: str, name: str) -> str:
    return f"{prefix}-{distribution}-{name}"


def signing_parameter(app: str, env: str) -> str:
    """The SSM SecureString (us-east-1) holding the URL-signing key, one per environment."""
    return f"/{app}/{env}/edge/url-signing-key"


def env_var(name: str, kind: str) -> str:
    """The environment variable a connection gives a function: ('uploads', 'BUCKET') -> 'UPLOADS_BUCKET'."""
    return f"{name.upper().replace('-', '_')}_{kind}"
