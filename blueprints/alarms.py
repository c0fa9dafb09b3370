"""The alarms stack: an encrypted SNS topic per region with its email subscribers, and the dashboard."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

from troposphere import GetAtt, Ref, budgets, cloudwatch, sns

from compiler.context import Context
from compiler.naming import alarm_topic_name, budget_name, db_identifier, function_name, rest_api_name
from compiler.spec import Alarms

from .parts import TOPIC_OUTPUT
from .secure import kms_key, topic, topic_policy


def build(section: Alarms, ctx: Context) -> Iterable[Any]:
    budget = section.budget if ctx.primary else None  # budgets are per account: one, from the primary region
    publishers = ("cloudwatch.amazonaws.com",) + (("budgets.amazonaws.com",) if budget else ())
    key = kms_key("AlarmsTopicKey", f"{ctx.prefix} alarm topic encryption", services=publishers)
    t = topic("AlarmsTopic", alarm_topic_name(ctx.prefix), key)
    policy = topic_policy("AlarmsTopicPolicy", Ref(t), publishers=publishers)
    yield from (key, t, policy)
    if budget is not None:
        yield budgets.Budget("AlarmsBudget", DependsOn=[policy.title], Budget=budgets.BudgetData(
            BudgetName=budget_name(ctx.prefix), BudgetType="COST", TimeUnit="MONTHLY",
            BudgetLimit=budgets.Spend(Amount=budget.monthly_usd, Unit="USD")),
            NotificationsWithSubscribers=[budgets.NotificationWithSubscribers(
                Notification=budgets.Notification(NotificationType="ACTUAL", ComparisonOperator="GREATER_THAN",
                                                  Threshold=p, ThresholdType="PERCENTAGE"),
                Subscribers=[budgets.Subscriber(SubscriptionType="SNS", Address=Ref(t))]) for p in sorted(budget.alert_percents)])
    for address in section.email:
        # Keyed by the address, never by list position: reordering the list must not replace subscriptions.
        digest = hashlib.sha256(address.lower().encode()).hexdigest()[:10]
        yield sns.SubscriptionResource(f"AlarmsEmail{digest}Subscription", TopicArn=Ref(t), Protocol="email", Endpoint=address)
    body = dashboard_body(ctx) if section.dashboard and ctx.primary else None
    if body is not None:
        yield cloudwatch.Dashboard("AlarmsDashboard", DashboardName=ctx.prefix, DashboardBody=body)
    yield ctx.output(TOPIC_OUTPUT, Ref(t), "SNS topic every alarm of this environment and region notifies")
    yield ctx.output("TopicKeyArn", GetAtt(key, "Arn"), "KMS key of the alarm topic")


def dashboard_body(ctx: Context) -> str | None:
    """Widgets for what archc named itself (functions, the REST API, the database), so no other stack is read."""
    spec, region = ctx.spec, ctx.region
    widgets = []

    def widget(title: str, metrics: list, stat: str = "Sum") -> None:
        n = len(widgets)
        widgets.append({"type": "metric", "x": (n % 2) * 12, "y": (n // 2) * 6, "width": 12, "height": 6,
                        "properties": {"title": title, "region": region, "stat": stat, "period": 300, "view": "timeSeries",
                                       "metrics": metrics}})

    names = [function_name(ctx.prefix, name) for name in sorted(spec.functions)]
    if names:
        widget("Lambda errors", [["AWS/Lambda", "Errors", "FunctionName", n] for n in names])
        widget("Lambda invocations", [["AWS/Lambda", "Invocations", "FunctionName", n] for n in names])
        widget("Lambda throttles", [["AWS/Lambda", "Throttles", "FunctionName", n] for n in names])
        widget("Lambda duration p99 (ms)", [["AWS/Lambda", "Duration", "FunctionName", n] for n in names], stat="p99")
    if spec.api and spec.api.rest:
        api = rest_api_name(ctx.prefix)
        widget("REST API requests and errors", [["AWS/ApiGateway", m, "ApiName", api] for m in ("Count", "4XXError", "5XXError")])
        widget("REST API latency p99 (ms)", [["AWS/ApiGateway", "Latency", "ApiName", api]], stat="p99")
    if spec.database is not None:
        db = db_identifier(ctx.prefix)
        widget("Database CPU %", [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", db]], stat="Average")
        widget("Database connections", [["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", db]], stat="Maximum")
        widget("Database free storage (bytes)", [["AWS/RDS", "FreeStorageSpace", "DBInstanceIdentifier", db]], stat="Minimum")
    if not widgets:
        return None
    return json.dumps({"widgets": widgets}, sort_keys=True, separators=(",", ":"))
