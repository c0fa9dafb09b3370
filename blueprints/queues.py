"""The queues stack in the primary region: the spec's SQS queues, each with its dead-letter queue and alarm."""

from __future__ import annotations

from typing import Any, Iterable

from awacs import sqs as asqs
from troposphere import GetAtt, Ref, Sub, sqs

from compiler.context import Context
from compiler.naming import logical_id, queue_dlq_name, queue_name
from compiler.spec import Queue, Spec

from .parts import alarm, alarms_on
from .secure import kms_key, queue, tls_only

DAY = 86400


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    key = None
    if any(q.encryption == "kms" for q in spec.queues.values()):
        key = kms_key("QueuesKey", f"{ctx.prefix} queue encryption")
        yield key
        yield ctx.output("QueuesKeyArn", GetAtt(key, "Arn"), "KMS key of the queues encrypted with kms")
    for name, q in spec.queues.items():
        yield from _queue(name, q, ctx, key if q.encryption == "kms" else None)


def _queue(name: str, q: Queue, ctx: Context, key: Any) -> Iterable[Any]:
    base = logical_id("Queues", name)
    props: dict[str, Any] = dict(VisibilityTimeout=q.visibility_timeout_s, DelaySeconds=q.delay_s)
    dlq = None
    if q.dead_letter is not None:
        dlq = queue(f"{base}DeadLetterQueue", queue_dlq_name(ctx.prefix, name), retention_s=q.dead_letter.retention_days * DAY, key=key)
        yield dlq
        yield sqs.QueuePolicy(f"{base}DeadLetterQueuePolicy", Queues=[Ref(dlq)], PolicyDocument=tls_only(GetAtt(dlq, "Arn"), asqs.Action("*")))
        props["RedrivePolicy"] = sqs.RedrivePolicy(deadLetterTargetArn=GetAtt(dlq, "Arn"), maxReceiveCount=q.dead_letter.max_receive_count)
    main = queue(f"{base}Queue", queue_name(ctx.prefix, name), retention_s=q.retention_days * DAY, key=key, **props)
    yield main
    yield sqs.QueuePolicy(f"{base}QueuePolicy", Queues=[Ref(main)], PolicyDocument=tls_only(GetAtt(main, "Arn"), asqs.Action("*")))
    if dlq is not None:
        # Only its own source may move messages here (by name: a GetAtt would make the pair a circular dependency).
        dlq.RedriveAllowPolicy = {"redrivePermission": "byQueue", "sourceQueueArns": [
            Sub(f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{queue_name(ctx.prefix, name)}")]}
        if alarms_on(ctx):
            yield alarm(ctx, f"{base}DeadLetterAlarm", f"{name}-dlq", f"queue {name}: messages that failed {q.dead_letter.max_receive_count} "
                        "times are waiting in the dead-letter queue", namespace="AWS/SQS", metric="ApproximateNumberOfMessagesVisible",
                        dimensions={"QueueName": GetAtt(dlq, "QueueName")}, statistic="Maximum", period=300, threshold=0,
                        comparison="GreaterThanThreshold", evaluation_periods=1)
    yield ctx.output(logical_id(name, "QueueArn"), GetAtt(main, "Arn"), f"queue {name}")
    yield ctx.output(logical_id(name, "QueueUrl"), Ref(main), f"queue {name} URL")
