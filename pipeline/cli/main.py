"""The command line: its arguments, which command runs, and how a problem becomes one line
on standard error and an exit status. The AWS session, the clock and the sleep between
polls are passed in, so the tests run every command without an account."""
from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TextIO

from pipeline.cli.follow import DEFAULT_POLL_SECONDS, aws_problem, follow, start, stop, summary, training_job_describer
from pipeline.cli.locate import EXECUTION_NAME_PATTERN, arn_parts, check_input, execution_name, state_machine_arn
from pipeline.cli.plan import capacity_lines, default_base_model
from pipeline.cli.terminal import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Terminal, UsageError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.cli", description="Start and follow OpenForge fine-tuning runs from a terminal.")
    aws = argparse.ArgumentParser(add_help=False)
    aws.add_argument("--profile", help="AWS profile to use (default: the usual credential chain)")
    commands = parser.add_subparsers(dest="command", required=True)
    begin = commands.add_parser("start", parents=[aws], help="check a pipeline input file and start a run")
    begin.add_argument("file", help="the pipeline input, JSON (examples/pipeline-input*.json)")
    begin.add_argument("--env", help="environment in cdk.json: its account and region name the state machine")
    begin.add_argument("--state-machine-arn", help="the state machine, when it is not OpenForge-<env>-FineTune of cdk.json's account")
    begin.add_argument("--name", help="execution name (default: <job_name>-<UTC timestamp>)")
    begin.add_argument("--follow", action="store_true", help="then follow it as `follow` does")
    begin.add_argument("--poll", type=float, default=DEFAULT_POLL_SECONDS, help=argparse.SUPPRESS)
    track = commands.add_parser("follow", parents=[aws], help="print a run's progress until it ends, then its summary")
    track.add_argument("execution_arn")
    track.add_argument("--poll", type=float, default=DEFAULT_POLL_SECONDS, help="seconds between looks at the history (default 10)")
    report = commands.add_parser("summary", parents=[aws], help="print a run's summary, or why it failed")
    report.add_argument("execution_arn")
    halt = commands.add_parser("stop", parents=[aws], help="stop a running run and the jobs it started")
    halt.add_argument("execution_arn")
    return parser


def main(argv: list[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None, session_factory=None,
         sleep: Callable[[float], None] = time.sleep, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> int:
    terminal = Terminal(out or sys.stdout, err or sys.stderr)
    args = _parser().parse_args(argv)
    try:
        return _run(args, terminal, session_factory, sleep, now)
    except UsageError as error:
        print(f"error: {error}", file=terminal.err, flush=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nstopped following; the run goes on", file=terminal.err, flush=True)
        return EXIT_INTERRUPTED


def _run(args, terminal: Terminal, session_factory, sleep, now) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    if args.command == "start":
        pipeline_input = check_input(args.file)
        if args.state_machine_arn:
            arn = args.state_machine_arn
        elif args.env:
            arn = state_machine_arn(args.env)
        else:
            raise UsageError("start needs --env ENV (an environment in cdk.json) or --state-machine-arn ARN")
        name = args.name or execution_name(pipeline_input["job_name"], now())
        if not re.match(EXECUTION_NAME_PATTERN, name):
            raise UsageError(f"execution name {name!r}: 1-80 letters, digits, '-' or '_'")
    else:
        arn = args.execution_arn
    _, region = arn_parts(arn)
    try:
        session = _session(session_factory, args.profile, region)
        sfn = session.client("stepfunctions")
        if args.command == "start":
            account = arn.split(":")[4]
            terminal.say(*capacity_lines(session.client("s3"), pipeline_input, default_base_model(args.env, account, region)))
            execution = start(sfn, arn, name, pipeline_input, terminal)
            if not args.follow:
                return EXIT_OK
            terminal.say("")
            return follow(sfn, execution, terminal, poll_seconds=args.poll, describe_job=training_job_describer(session), sleep=sleep)
        if args.command == "follow":
            return follow(sfn, arn, terminal, poll_seconds=args.poll, describe_job=training_job_describer(session), sleep=sleep)
        if args.command == "stop":
            return stop(session, sfn, arn, terminal)
        return summary(sfn, arn, terminal)
    except ClientError as error:
        raise UsageError(f"{error.operation_name} {arn}: {aws_problem(error)}") from None
    except BotoCoreError as error:
        raise UsageError(f"AWS: {error}") from None


def _session(session_factory, profile: str | None, region: str):
    if session_factory is not None:
        return session_factory(profile_name=profile, region_name=region)
    import boto3

    return boto3.Session(profile_name=profile, region_name=region)

