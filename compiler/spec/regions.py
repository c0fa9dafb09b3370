"""AWS commercial regions archc accepts (kept by hand: validate and compile never import botocore)."""

REGIONS = frozenset({
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2",
    "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1",
    "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1",
    "us-west-2",
})

# CloudFront, its certificates, CLOUDFRONT-scope WAF and Lambda@Edge live here (aws-facts.md section 1).
EDGE_REGION = "us-east-1"

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)


def retention_issues(at: tuple, days: int) -> list:
    """S207 when CloudWatch Logs would refuse the retention period."""
    from .base import Issue

    if days in LOG_RETENTION_DAYS:
        return []
    return [Issue("S207", at, f"CloudWatch Logs accepts only {', '.join(map(str, LOG_RETENTION_DAYS))} days")]
