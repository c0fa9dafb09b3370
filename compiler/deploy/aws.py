"""The one module that calls AWS: a boto3 session from --profile/--region/--endpoint-url, adaptive retries, readable errors."""

from __future__ import annotations

import json
import threading
from typing import Any

from .. import __version__
from ..diagnostics import ArchcError

RETRIES = {"mode": "adaptive", "max_attempts": 10}  # adaptive: client-side rate limiting when AWS throttles
ARTIFACT_BUCKET = "archc-artifacts-{account}-{region}"


class AwsError(ArchcError):
    """An AWS API call failed; `code` is AWS's error code (ValidationError, AccessDenied, ...)."""

    def __init__(self, operation: str, code: str, message: str, region: str | None = None):
        self.operation, self.code, self.aws_message, self.region = operation, code, message, region
        where = f" in {region}" if region else ""
        super().__init__(f"AWS {operation}{where} failed: {code}: {message}")

    def matches(self, *fragments: str) -> bool:
        return any(f.lower() in self.aws_message.lower() for f in fragments)


def _missing(e: AwsError) -> bool:
    """CloudFormation says "does not exist" (ValidationError) or ChangeSetNotFound for a stack or change set that is gone."""
    return e.code in ("ChangeSetNotFound", "ChangeSetNotFoundException") or (e.code == "ValidationError" and e.matches("does not exist"))


class Aws:
    """Clients per (service, region) from one session; `clients` lets tests hand in botocore clients wrapped by a Stubber."""

    def __init__(self, profile: str | None = None, region: str | None = None, endpoint_url: str | None = None,
                 *, clients: dict[tuple[str, str], Any] | None = None):
        self.profile, self.region, self.endpoint_url = profile, region, endpoint_url
        self._clients: dict[tuple[str, str], Any] = dict(clients or {})
        self._session = None
        self._lock = threading.Lock()
        self._account: str | None = None

    # --- plumbing ------------------------------------------------------------------------------------------------

    def _new_session(self):
        import boto3
        from botocore.exceptions import ProfileNotFound

        try:
            return boto3.Session(profile_name=self.profile, region_name=self.region)
        except ProfileNotFound:
            raise ArchcError(f'AWS profile "{self.profile}" is not in your AWS config files (~/.aws/config, ~/.aws/credentials)') from None

    def client(self, service: str, region: str):
        key = (service, region)
        with self._lock:  # a boto3 session is not thread-safe; the clients it makes are
            if key not in self._clients:
                from botocore.config import Config

                if self._session is None:
                    self._session = self._new_session()
                config = Config(retries=RETRIES, user_agent_extra=f"archc/{__version__}", connect_timeout=15, read_timeout=70)
                self._clients[key] = self._session.client(service, region_name=region, endpoint_url=self.endpoint_url, config=config)
            return self._clients[key]

    def call(self, service: str, region: str, operation: str, **params: Any) -> dict:
        from botocore.exceptions import (BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError,
                                         NoRegionError, PartialCredentialsError)
        from botocore.parsers import ResponseParserError

        client = self.client(service, region)
        try:
            return getattr(client, operation)(**params)
        except ClientError as e:
            err = e.response.get("Error", {})
            raise AwsError(operation, err.get("Code", "Unknown"), err.get("Message", str(e)), region) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise ArchcError("no usable AWS credentials: set AWS_PROFILE or pass --profile, or export AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY (any values work against a local --endpoint-url)") from None
        except EndpointConnectionError as e:
            raise ArchcError(f"could not reach AWS at {e.kwargs.get('endpoint_url', self.endpoint_url)}: is the endpoint right and up?") from None
        except NoRegionError:
            raise ArchcError("no AWS region for this call") from None
        except BotoCoreError as e:
            raise AwsError(operation, type(e).__name__, str(e).splitlines()[0], region) from None
        except ResponseParserError:  # an HTML error page where XML or JSON was due (a 500 from an emulator or a proxy)
            raise AwsError(operation, "InvalidResponse", "the endpoint answered with an error page instead of an AWS response",
                           region) from None

    # --- identity --------------------------------------------------------------------------------------------------

    def account_id(self, region: str) -> str:
        if self._account is None:
            self._account = self.call("sts", region, "get_caller_identity")["Account"]
        return self._account

    # --- stacks ----------------------------------------------------------------------------------------------------

    def stack(self, region: str, name: str) -> dict | None:
        try:
            return self.call("cloudformation", region, "describe_stacks", StackName=name)["Stacks"][0]
        except AwsError as e:
            if _missing(e):
                return None
            raise

    def template(self, region: str, name: str) -> dict | None:
        """The stack's template as submitted (TemplateStage Original); None when the stack has none."""
        try:
            body = self.call("cloudformation", region, "get_template", StackName=name, TemplateStage="Original").get("TemplateBody")
        except AwsError as e:
            if _missing(e):
                return None
            raise
        if isinstance(body, str):  # botocore parses JSON bodies; a YAML body stays a string
            try:
                return json.loads(body)
            except json.JSONDecodeError:
                return None
        return json.loads(json.dumps(body)) if body is not None else None

    def outputs(self, region: str, name: str) -> dict[str, str]:
        st = self.stack(region, name)
        return {o["OutputKey"]: o.get("OutputValue", "") for o in (st or {}).get("Outputs", [])}

    def events(self, region: str, name: str, seen: set[str], *, one_page: bool = False) -> list[dict]:
        """Stack events not in `seen` (which is updated), oldest first; stops paging at the first event already seen
        (one_page: only the newest page, enough to mark where a new operation starts)."""
        new: list[dict] = []
        token = None
        while True:
            params = {"StackName": name} | ({"NextToken": token} if token else {})
            page = self.call("cloudformation", region, "describe_stack_events", **params)
            stop = False
            for ev in page.get("StackEvents", []):
                if ev["EventId"] in seen:
                    stop = True
                    break
                new.append(ev)
            token = page.get("NextToken")
            if stop or not token or one_page:
                break
        seen.update(ev["EventId"] for ev in new)
        return list(reversed(new))

    def importers(self, region: str, export: str) -> list[str]:
        """The stacks importing an export (none: AWS answers ValidationError "... is not imported by any stack")."""
        names, token = [], None
        while True:
            try:
                page = self.call("cloudformation", region, "list_imports", ExportName=export, **({"NextToken": token} if token else {}))
            except AwsError as e:
                if e.code == "ValidationError" and e.matches("not imported"):
                    return []
                raise
            names += page.get("Imports", [])
            token = page.get("NextToken")
            if not token:
                return sorted(names)

    def delete_stack(self, region: str, stack_id: str) -> None:
        """Only used on an empty REVIEW_IN_PROGRESS stack archc made for a CREATE change set."""
        self.call("cloudformation", region, "delete_stack", StackName=stack_id)

    def stack_policy(self, region: str, name: str) -> Any:
        """The stack's policy as parsed JSON (the raw text when it is not JSON), or None when the stack has none."""
        body = self.call("cloudformation", region, "get_stack_policy", StackName=name).get("StackPolicyBody")
        if not body:
            return None
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            return body

    def set_stack_policy(self, region: str, name: str, policy: dict) -> None:
        self.call("cloudformation", region, "set_stack_policy", StackName=name, StackPolicyBody=json.dumps(policy, sort_keys=True))

    def set_termination_protection(self, region: str, name: str, enabled: bool) -> None:
        self.call("cloudformation", region, "update_termination_protection", StackName=name, EnableTerminationProtection=enabled)

    # --- change sets -----------------------------------------------------------------------------------------------

    def create_change_set(self, region: str, **params: Any) -> dict:
        return self.call("cloudformation", region, "create_change_set", **params)

    def change_set(self, region: str, arn: str, *, all_pages: bool = False) -> dict | None:
        """A change set's description; with all_pages, every page's Changes (and property values) in one list."""
        params: dict[str, Any] = {"ChangeSetName": arn}
        if all_pages:
            params["IncludePropertyValues"] = True
        try:
            first = self.call("cloudformation", region, "describe_change_set", **params)
        except AwsError as e:
            if _missing(e):
                return None
            raise
        if not all_pages:
            return first
        changes = list(first.get("Changes", []))
        token = first.get("NextToken")
        while token:
            page = self.call("cloudformation", region, "describe_change_set", **params, NextToken=token)
            changes.extend(page.get("Changes", []))
            token = page.get("NextToken")
        return {k: v for k, v in first.items() if k != "NextToken"} | {"Changes": changes}

    def change_sets(self, region: str, stack: str) -> list[dict]:
        out, token = [], None
        while True:
            params = {"StackName": stack} | ({"NextToken": token} if token else {})
            page = self.call("cloudformation", region, "list_change_sets", **params)
            out.extend(page.get("Summaries", []))
            token = page.get("NextToken")
            if not token:
                return out

    def delete_change_set(self, region: str, arn: str) -> None:
        try:
            self.call("cloudformation", region, "delete_change_set", ChangeSetName=arn)
        except AwsError as e:
            if not _missing(e):
                raise

    def execute_change_set(self, region: str, arn: str) -> None:
        self.call("cloudformation", region, "execute_change_set", ChangeSetName=arn)

    # --- alarms (rollback triggers) --------------------------------------------------------------------------------

    def alarm_arns(self, region: str, names: list[str]) -> dict[str, str]:
        """ARNs of the alarms among `names` that exist now (a missing trigger alarm would fail the stack operation)."""
        found: dict[str, str] = {}
        for i in range(0, len(names), 100):
            token = None
            while True:
                params = {"AlarmNames": names[i:i + 100], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
                page = self.call("cloudwatch", region, "describe_alarms", **params | ({"NextToken": token} if token else {}))
                for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                    found[a["AlarmName"]] = a["AlarmArn"]
                token = page.get("NextToken")
                if not token:
                    break
        return found

    # --- artifact bucket -------------------------------------------------------------------------------------------

    @property
    def tls(self) -> bool:
        """False only for a plain-http --endpoint-url (a local emulator)."""
        return not (self.endpoint_url or "").lower().startswith("http://")

    def artifact_bucket(self, region: str) -> str:
        return ARTIFACT_BUCKET.format(account=self.account_id(region), region=region)

    def _not_ours(self, bucket: str, region: str) -> ArchcError:
        return ArchcError(f"artifact bucket {bucket} is not owned by account {self.account_id(region)}, or these credentials may not "
                          "use it (S3 answered 403 to a request that names the expected owner): archc puts templates and code only "
                          "in a bucket the deploying account owns; check who owns it before trusting anything in it")

    def ensure_artifact_bucket(self, region: str) -> tuple[str, bool]:
        """The account's archc bucket in `region`, created when missing: versioned, encrypted, private, TLS only. (name, created).
        Bucket names are global: every call names the expected owner, so a bucket someone else made under this name is refused."""
        name = self.artifact_bucket(region)
        owner = {"ExpectedBucketOwner": self.account_id(region)}
        try:
            self.call("s3", region, "head_bucket", Bucket=name, **owner)
            return name, False
        except AwsError as e:
            if e.code in ("403", "AccessDenied", "Forbidden"):
                raise self._not_ours(name, region) from None
            if e.code not in ("404", "NoSuchBucket", "NotFound"):
                raise
        create = {"Bucket": name}
        if region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.call("s3", region, "create_bucket", **create)
        except AwsError as e:
            if e.code == "BucketAlreadyExists":  # taken by another account between the two calls
                raise self._not_ours(name, region) from None
            raise
        self.call("s3", region, "put_public_access_block", Bucket=name, **owner, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        self.call("s3", region, "put_bucket_encryption", Bucket=name, **owner, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        self.call("s3", region, "put_bucket_versioning", Bucket=name, **owner, VersioningConfiguration={"Status": "Enabled"})
        if not self.tls:
            return name, True  # a plain-http emulator: a TLS-only policy would lock archc out of its own bucket
        arn = f"arn:aws:s3:::{name}"
        self.call("s3", region, "put_bucket_policy", Bucket=name, **owner, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
        return name, True

    def put_artifact(self, region: str, bucket: str, key: str, body: bytes) -> bool:
        """Upload unless the key is already there (keys are content hashes). True when uploaded. Only into a bucket this
        account owns (ExpectedBucketOwner on every call)."""
        owner = {"ExpectedBucketOwner": self.account_id(region)}
        try:
            self.call("s3", region, "head_object", Bucket=bucket, Key=key, **owner)
            return False
        except AwsError as e:
            if e.code in ("403", "AccessDenied", "Forbidden"):
                raise self._not_ours(bucket, region) from None
            if e.code not in ("404", "NoSuchKey", "NotFound"):
                raise
        try:
            self.call("s3", region, "put_object", Bucket=bucket, Key=key, Body=body, **owner)
        except AwsError as e:
            if e.code in ("403", "AccessDenied", "Forbidden"):
                raise self._not_ours(bucket, region) from None
            raise
        return True

    @staticmethod
    def object_url(bucket: str, region: str, key: str) -> str:
        return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
