"""The queues stack in the primary region: the spec's SQS queues, each with its dead-letter queue and alarm."""

from __future__ import annotations

from typing import Any, Iterable

from awacs import kms as akms
from awacs import sqs as asqs
from awacs.aws import Allow, ArnLike, Condition, Principal, Statement, StringEquals
from troposphere import AccountId, GetAtt, Ref, Sub, sqs

from compiler.context import Context
from compiler.naming import logical_id, queue_dlq_name, queue_name
from compiler.spec import Queue, Spec

from .parts import alarm, alarms_on, bucket_arn
from .secure import kms_key, queue, tls_only

DAY = 86400


def build(spec: Spec, ctx: Context) -> Iterable[Any]:
    # The buckets sending events here by their S3 names in this region (in the DR region: their copies, which send too).
    senders = {}
    for q, buckets in ctx.facts.queue_senders.items():
        names = sorted(n for b in buckets if (n := ctx.facts.bucket_in(b, ctx.region)))
        if names:
            senders[q] = tuple(names)
    key = None
    if any(q.encryption == "kms" for q in spec.queues.values()):
        extra = ()
        if any(spec.queues[q].encryption == "kms" for q in senders):
            # S3 encrypts the events it sends with the queue's key (it cannot use the AWS-managed SQS key). AWS's documented
            # statement has no condition: S3 sends no source account here; each queue's policy names the buckets that may send.
            extra = (Statement(Sid="S3SendsEvents", Effect=Allow, Principal=Principal("Service", "s3.amazonaws.com"),
                               Action=[akms.GenerateDataKey, akms.Decrypt], Resource=["*"]),)
        key = kms_key("QueuesKey", f"{ctx.prefix} queue encryption", extra=extra)
        yield key
        yield ctx.output("QueuesKeyArn", GetAtt(key, "Arn"), "KMS key of the queues encrypted with kms")
    for name, q in spec.queues.items():
        yield from _queue(name, q, ctx, key if q.encryption == "kms" else None, senders.get(name, ()))


def _queue(name: str, q: Queue, ctx: Context, key: Any, senders: tuple[str, ...]) -> Iterable[Any]:
    base = logical_id("Queues", name)
    visibility = ctx.spec.visibility_timeout(name)
    props: dict[str, Any] = dict(VisibilityTimeout=visibility, DelaySeconds=q.delay_s)
    dlq = None
    if q.dead_letter is not None:
        dlq = queue(f"{base}DeadLetterQueue", queue_dlq_name(ctx.prefix, name), retention_s=q.dead_letter.retention_days * DAY, key=key)
        yield dlq
        yield sqs.QueuePolicy(f"{base}DeadLetterQueuePolicy", Queues=[Ref(dlq)], PolicyDocument=tls_only(GetAtt(dlq, "Arn"), asqs.Action("*")))
        props["RedrivePolicy"] = sqs.RedrivePolicy(deadLetterTargetArn=GetAtt(dlq, "Arn"), maxReceiveCount=q.dead_letter.max_receive_count)
    main = queue(f"{base}Queue", queue_name(ctx.prefix, name), retention_s=q.retention_days * DAY, key=key, **props)
    yield main
    policy = tls_only(GetAtt(main, "Arn"), asqs.Action("*"))
    if senders:
        # S3 checks this policy when the bucket's notification is written (the storage stack comes after this one).
        arns = [bucket_arn(b) for b in senders]
        policy.Statement.insert(0, Statement(
            Sid="BucketEvents", Effect=Allow, Principal=Principal("Service", "s3.amazonaws.com"), Action=[asqs.SendMessage],
            Resource=[GetAtt(main, "Arn")],
            Condition=Condition([ArnLike({"aws:SourceArn": arns if len(arns) > 1 else arns[0]}),
                                 StringEquals({"aws:SourceAccount": AccountId})])))
    yield sqs.QueuePolicy(f"{base}QueuePolicy", Queues=[Ref(main)], PolicyDocument=policy)
    if dlq is not None:
        # Only its own source may move messages here (by name: a GetAtt would make the pair a circular dependency).
        dlq.RedriveAllowPolicy = {"redrivePermission": "byQueue", "sourceQueueArns": [
            Sub(f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{queue_name(ctx.prefix, name)}")]}
        if alarms_on(ctx):
            yield alarm(ctx, f"{base}DeadLetterAlarm", f"{name}-dlq", f"queue {name}: messages that failed {q.dead_letter.max_receive_count} "
                        "times are waiting in the dead-letter queue", namespace="AWS/SQS", metric="ApproximateNumberOfMessagesVisible",
                        dimensions={"QueueName": GetAtt(dlq, "QueueName")}, statistic="Maximum", period=300, threshold=0,
                        comparison="GreaterThanThreshold", evaluation_periods=1)
    consumer = ctx.spec.consumer(name)
    if consumer is not None and alarms_on(ctx):
        fname, fn, _ = consumer
        # A message older than one full visibility timeout has waited through at least one failed or slow attempt.
        yield alarm(ctx, f"{base}OldestMessageAlarm", f"{name}-oldest-message", f"queue {name}: a message has waited over {visibility} s "
                    f"(6 x {fname}'s {fn.timeout_s} s timeout plus its window): the consumer is failing, throttled or behind",
                    namespace="AWS/SQS", metric="ApproximateAgeOfOldestMessage", dimensions={"QueueName": GetAtt(main, "QueueName")},
                    statistic="Maximum", period=60, threshold=visibility, comparison="GreaterThanThreshold", evaluation_periods=5,
                    datapoints=3)
    yield ctx.output(logical_id(name, "QueueArn"), GetAtt(main, "Arn"), f"queue {name}")
    yield ctx.output(logical_id(name, "QueueUrl"), Ref(main), f"queue {name} URL")
