"""The `functions:` section: named Lambda functions (their code source, runtime and sizing)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import Issue, StrictModel, raise_issues
from .regions import LOG_RETENTION_DAYS

FunctionName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,29}$")]
Runtime = Literal["python3.11", "python3.12", "python3.13", "nodejs20.x", "nodejs22.x"]


class Function(StrictModel):
    code: str | None = Field(None, description="project folder zipped as the function's code")
    image: str | None = Field(None, description="container image URI (ECR)")
    handler: str = "app.handler"
    runtime: Runtime = "python3.12"
    architecture: Literal["arm64", "x86_64"] = "arm64"
    memory_mb: int = Field(1024, ge=128, le=10240)
    timeout_s: int = Field(30, ge=1, le=900)
    reserved_concurrency: int | None = Field(None, ge=0)
    in_vpc: bool = False
    uses_database: bool = False
    environment: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")], str] = Field(default_factory=dict)
    log_retention_days: int = 30

    @model_validator(mode="after")
    def _rules(self):
        issues = []
        if (self.code is None) == (self.image is None):
            issues.append(Issue("S215", (), "give exactly one of `code` (a project folder) or `image` (a container image URI)"))
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            issues.append(Issue("S207", ("log_retention_days",), f"CloudWatch Logs accepts only {', '.join(map(str, LOG_RETENTION_DAYS))} days"))
        raise_issues(issues)
        return self
