"""The click commands `diff`, `plan` and `deploy`; boto3 and cfn-lint load only when one of them runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..diagnostics import EXIT_BLOCKED, EXIT_FINDINGS, EXIT_OK, ArchcError
from ..term import console, say

out_option = click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False, path_type=Path),
                          help="where compiled templates are (and where plan.json goes)")
env_required = click.option("--env", "-e", "env", required=True, help="environment name (one)")
stack_option = click.option("--stack", "stacks", multiple=True, metavar="NAME",
                            help="only this stack (`name` or `region/name`); repeatable; the rest are left alone")
region_option = click.option("--region", "regions", multiple=True, metavar="REGION", help="only stacks in this region; repeatable")
profile_option = click.option("--profile", default=None, help="AWS profile (default: the usual AWS_PROFILE / default chain)")
endpoint_option = click.option("--endpoint-url", default=None, metavar="URL",
                               help="send every AWS call here (a local emulator such as moto_server); AWS_ENDPOINT_URL works too")
poll_option = click.option("--poll", "poll_s", default=5.0, show_default=True, type=click.FloatRange(0.0, 300.0),
                           help="seconds between status checks")


def _exit(code: int) -> None:
    sys.exit(code)  # click's Exit would be swallowed by cli.main(standalone_mode=False)


@click.command()
@env_required
@out_option
@click.option("--spec", "-f", "spec_path", default="arch.yaml", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the spec (for --ref)")
@click.option("--baseline", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="compare with templates in this directory (laid out like out/<env>)")
@click.option("--ref", default=None, metavar="GITREF", help="compare with the templates at this git ref (committed out/, else the spec compiled)")
@stack_option
@region_option
@click.option("--json", "as_json", is_flag=True, help="print the diff as JSON")
def diff(env: str, out_dir: Path, spec_path: Path, baseline: Path | None, ref: str | None, stacks: tuple[str, ...],
         regions: tuple[str, ...], as_json: bool) -> None:
    """Offline: what changed since the last plan or deploy, and what each change replaces. Exit 1 when anything differs."""
    from ..diff import diff_env
    from .report import print_diff

    if baseline and ref:
        raise ArchcError("give --baseline or --ref, not both")
    result = diff_env(out_dir, env, baseline=baseline, ref=ref, spec_path=spec_path, stacks=stacks, regions=regions)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    else:
        print_diff(console(), result)
    _exit(EXIT_FINDINGS if result.changed else EXIT_OK)


@click.command()
@env_required
@out_option
@stack_option
@region_option
@click.option("--allow-replace", "allow_replace", multiple=True, metavar="LOGICAL_ID",
              help="let this stateful resource be replaced or removed (`Id`, `stack/Id` or `region/stack/Id`); repeatable")
@profile_option
@endpoint_option
@poll_option
@click.option("--json", "as_json", is_flag=True, help="print plan.json instead of the review")
def plan(env: str, out_dir: Path, stacks: tuple[str, ...], regions: tuple[str, ...], allow_replace: tuple[str, ...],
         profile: str | None, endpoint_url: str | None, poll_s: float, as_json: bool) -> None:
    """Create a change set per stack and review them. Exit 0 no changes, 1 changes to review, 3 blocked, 2 error."""
    from .aws import Aws
    from .changesets import Options, make_plan, plan_outcome
    from .report import print_plan

    aws = Aws(profile, None, endpoint_url)
    opts = Options(stacks=stacks, regions=regions, allow_replace=allow_replace, poll_s=poll_s,
                   echo=lambda msg: say(msg, "dim", err=True))
    result = make_plan(out_dir, env, aws, opts)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        print_plan(console(), result)
        say(f"wrote {out_dir / env / 'plan.json'} and plan.md", "dim")
    outcome = plan_outcome(result)
    if outcome == "blocked":
        codes = "/".join(sorted({r["code"] for r in result["risks"] if r["blocking"]}))
        raise ArchcError(f"plan blocked ({codes}): a stateful resource would be replaced or removed (D501), or an export another "
                         "stack imports would change (D506); deploy refuses this plan",
                         exit_code=EXIT_BLOCKED)
    _exit(EXIT_FINDINGS if outcome == "changes" else EXIT_OK)


@click.command()
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="the plan to execute [default: <out>/<env>/plan.json]")
@click.option("--env", "-e", "env", default=None, help="shorthand for --plan <out>/<env>/plan.json")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="where the compiled templates are [default: the directory above the plan's environment]")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@click.option("--parallel", default=4, show_default=True, type=click.IntRange(1, 32), help="stacks deployed at once (when independent)")
@click.option("--timeout", "timeout_min", default=None, type=click.FloatRange(1, 24 * 60),
              help="minutes to wait for one stack [default: the spec's deploy.timeout_minutes]")
@region_option
@profile_option
@endpoint_option
@poll_option
@click.option("--json", "as_json", is_flag=True, help="print the outcome per stack as JSON")
def deploy(plan_path: Path | None, env: str | None, out_dir: Path | None, yes: bool, parallel: int, timeout_min: float | None,
           regions: tuple[str, ...], profile: str | None, endpoint_url: str | None, poll_s: float, as_json: bool) -> None:
    """Execute the reviewed change sets of a plan and apply its protection settings, in dependency order. Refuses a blocked or
    stale plan."""
    from .apply import DONE, UPDATE_AFTER, Options, check_regions, executes, execute, refuse_blocked, runnable, verify
    from .aws import Aws
    from .changesets import load_plan
    from .report import setting_line

    if plan_path is None:
        if env is None:
            raise ArchcError("which plan? pass --plan out/<env>/plan.json (or --env <env>)")
        plan_path = (out_dir or Path("out")) / env / "plan.json"
    plan_doc = load_plan(plan_path)
    if env is not None and env != plan_doc["environment"]:
        raise ArchcError(f"{plan_path} is a plan for {plan_doc['environment']}, not {env}")
    if out_dir is None:
        out_dir = plan_path.parent.parent if plan_path.parent.name == plan_doc["environment"] else Path("out")
    check_regions(plan_doc, regions)  # a typo is an error, not "nothing to deploy"
    refuse_blocked(plan_doc)  # before anything reads the blocked stacks' change sets (plan deleted them)
    aws = Aws(profile, None, endpoint_url)
    stacks = runnable(plan_doc, regions, aws)
    deferred = [s["id"] for s in plan_doc["stacks"] if s["status"] == "deferred" and (not regions or s["region"] in regions)]
    if stacks:
        verify(plan_doc, stacks, out_dir, aws)
    if not stacks:
        if as_json:
            click.echo("[]")
        console(stderr=as_json).print(f"nothing to deploy: the plan for {plan_doc['environment']} has no changes"
                                        + (f" ({len(deferred)} stack(s) deferred: plan again)" if deferred else ""), markup=False)
        _exit(EXIT_OK)
    con = console(stderr=as_json)  # with --json, stdout carries only the JSON
    n_changes = sum(1 for s in stacks if executes(s) for r in s["changes"] if not r.get("condition"))
    n_settings = sum(not executes(s) for s in stacks)
    con.print(f"deploy {plan_doc['app']} {plan_doc['environment']} to account {plan_doc['account']}: {len(stacks)} stack(s), "
              f"{n_changes} resource change(s)" + (f" ({n_settings} with protection settings only)" if n_settings else ""),
              style="bold", markup=False)
    for s in stacks:
        if s["status"] == UPDATE_AFTER:
            con.print(f"  {s['id']}: updated after the stacks it reads from only if a value it reads changes "
                      f"({', '.join(r['output'] for r in s['reads'])})", markup=False)
        elif executes(s) and not s["change_set"]:
            con.print(f"  {s['id']}: CREATE after {', '.join(s['create_after'])} ({len(s['changes'])} additions, reviewed from its "
                      "template; its change set is made and checked when they are deployed)", markup=False)
        elif executes(s):
            again = f"; made again if {', '.join(r['output'] for r in s['reads'])} changes" if s.get("reads") else ""
            n = sum(not r.get("condition") for r in s["changes"])
            con.print(f"  {s['id']}: {s['change_set']['type']} {s['change_set']['name']} ({n} changes{again})", markup=False)
        else:
            con.print(f"  {s['id']}: protection settings only", markup=False)
            for item in s["settings"]:
                con.print(f"    {setting_line(item)}", markup=False)
    if not yes:
        click.confirm("execute these change sets?" if n_settings < len(stacks) else "apply these settings?", abort=True, err=True)

    def echo(msg: str, style: str = "") -> None:
        con.print(msg, style=style or None, markup=False)

    opts = Options(parallel=parallel, timeout_s=None if timeout_min is None else timeout_min * 60, poll_s=poll_s, regions=regions, echo=echo)
    if con.is_terminal and not as_json:  # a live table of the stacks; plain lines in a pipe or a log
        from .progress import LiveView

        with LiveView(con, stacks) as view:
            opts.echo, opts.progress = view.echo, view.update
            outcomes = execute(plan_doc, stacks, out_dir, aws, opts)
    else:
        outcomes = execute(plan_doc, stacks, out_dir, aws, opts)
    if as_json:
        click.echo(json.dumps([o.__dict__ for o in outcomes], indent=2, sort_keys=True))
    bad = [o for o in outcomes if o.state not in DONE]
    con.print("\nresult:", style="bold", markup=False)
    for o in outcomes:
        line = (f"  {o.id}: {o.state}" + (f" ({o.stack_status})" if o.stack_status else "") + (f": {o.failure}" if o.failure else "")
                + (f": {', '.join(a.replace('_', ' ') for a in o.applied)} set" if o.state == "protected" and o.applied else ""))
        con.print(line, style="green" if o.state in DONE else "bold red", markup=False)
        for w in o.warnings:
            con.print(f"    warning: {w}", style="yellow", markup=False)
    if deferred:
        con.print(f"deferred in this plan: {', '.join(deferred)}: run `archc plan --env {plan_doc['environment']}` again to continue",
                  style="yellow", markup=False)
    if bad:
        first = next((o for o in bad if o.state == "failed"), bad[0])
        raise ArchcError(f"deploy stopped: {first.id} {first.state}: {first.failure}")
    deployed, protected = (sum(o.state == state for o in outcomes) for state in DONE)
    con.print("; ".join(x for x in (deployed and f"deployed {deployed} stack(s)",
                                    protected and f"applied protection settings to {protected} stack(s)") if x),
              style="bold green", markup=False)


@click.command()
@env_required
@out_option
@stack_option
@region_option
@click.option("--allow-protected", "allow_protected", multiple=True, metavar="STACK",
              help="delete this stack although it has termination protection (`name` or `region/name`); repeatable")
@click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
@click.option("--timeout", "timeout_min", default=120.0, show_default=True, type=click.FloatRange(1, 24 * 60),
              help="minutes to wait for one stack")
@profile_option
@endpoint_option
@poll_option
@click.option("--json", "as_json", is_flag=True, help="print what is deleted and kept, and the outcome per stack, as JSON")
def destroy(env: str, out_dir: Path, stacks: tuple[str, ...], regions: tuple[str, ...], allow_protected: tuple[str, ...], yes: bool,
            timeout_min: float, profile: str | None, endpoint_url: str | None, poll_s: float, as_json: bool) -> None:
    """Delete the environment's stacks, consumers first, after listing what stays behind (retained resources and final
    snapshots). Refuses stacks with termination protection unless named. Exit 0 done, 2 error, 3 refused."""
    from ..manifest import read as read_manifest
    from .aws import Aws
    from .destroy import Options as DestroyOptions, delete, plan_destroy

    manifest = read_manifest(out_dir, env)
    aws = Aws(profile, None, endpoint_url)
    con = console(stderr=as_json)

    def echo(msg: str, style: str = "") -> None:
        con.print(msg, style=style or None, markup=False)

    opts = DestroyOptions(stacks=stacks, regions=regions, allow_protected=allow_protected, poll_s=poll_s,
                          timeout_s=timeout_min * 60, echo=echo)
    batches = plan_destroy(manifest, aws, opts)
    targets = [x for b in batches for x in b]
    if not targets:
        if as_json:
            click.echo(json.dumps({"deleted": [], "kept": [], "results": []}))
        con.print(f"nothing to destroy: no stack of {manifest.app} {env} is deployed", markup=False)
        _exit(EXIT_OK)
    con.print(f"destroy {manifest.app} {env}: {len(targets)} stack(s), in this order", style="bold", markup=False)
    for i, batch in enumerate(batches, 1):
        for x in batch:
            con.print(f"  {i}. {x.id} ({x.status}{', termination protection: turned off first' if x.protected else ''})", markup=False)
    kept = [dict(k, stack=x.id) for x in targets for k in x.kept]
    if kept:
        con.print(f"kept after the deletion ({len(kept)}): delete them by hand once you no longer need the data", style="bold",
                  markup=False)
        for k in kept:
            con.print(f"  {k['stack']} {k['logical_id']} ({k['type']}, {k['kept_as']}): {k['where']}", markup=False)
    else:
        con.print("nothing is kept: every resource is deleted with its stack", markup=False)
    if not yes:
        click.confirm(f"delete these {len(targets)} stack(s)?", abort=True, err=True)
    results = delete(batches, aws, opts)
    if as_json:
        click.echo(json.dumps({"deleted": [x.id for x in targets], "kept": kept, "results": results}, indent=2, sort_keys=True))
    for r in results:
        con.print(f"  {r['id']}: {r['state']}" + (f": {r['reason']}" if r.get("reason") else ""),
                  style="green" if r["state"] == "deleted" else "bold red", markup=False)
    bad = [r for r in results if r["state"] != "deleted"]
    if bad:
        raise ArchcError(f"destroy stopped: {bad[0]['id']} {bad[0]['state']}: {bad[0]['reason']}")
    con.print(f"deleted {len(results)} stack(s)" + (f"; {len(kept)} resource(s) kept" if kept else ""), style="bold green", markup=False)
