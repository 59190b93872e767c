"""The console's equivalent for a terminal: start a fine-tuning run, follow it state by
state, read its summary.

    python -m pipeline.cli start FILE --env ENV [--name NAME] [--follow]
    python -m pipeline.cli follow EXECUTION_ARN
    python -m pipeline.cli summary EXECUTION_ARN
    python -m pipeline.cli stop EXECUTION_ARN

``start`` reads the pipeline input (JSON, docs/pipeline-input.md), checks it here first,
finds the environment's state machine (``OpenForge-<env>-FineTune`` in the account and region
of ``cdk.json``'s ``environments.<env>``, or ``--state-machine-arn``), starts an execution
named ``<job_name>-<UTC timestamp>`` unless ``--name`` says otherwise, and prints the
execution's ARN and its console URL. ``follow`` prints one line per state as it is entered
and as it finishes, then the run's summary; ``summary`` prints only that; ``stop`` stops a
running execution and what it started.

Exit status: 0 the run succeeded (or was started, without ``--follow``); 1 it failed, was
aborted or timed out; 2 the command could not be carried out (a missing or unreadable file,
bad JSON, an input the check refuses, an unknown environment, an execution that does not
exist, or AWS refusing the call), with one line on standard error naming what is wrong;
3 ``summary`` of a run that has not finished; 130 ``follow`` stopped with Ctrl-C (the run
goes on).

One module per job:

    main.py       the arguments, which command runs, problems as one line and an exit status
    locate.py     start's groundwork: the input check, the state machine's ARN, the
                  execution's name, the console URL
    follow.py     start, follow, summary and stop against the account
    history.py    the execution's history: new pages of events, the readers of their fields
    progress.py   the history as the lines a person reads (pure: no AWS, no clock)
    terminal.py   standard output and error, the exit statuses, the usage error

Everything that turns history and output into text (progress.py here, ``summary_lines`` and
``failure_lines`` in pipeline/summary.py, which the local runner prints too) is pure, so it is
tested without AWS.
"""
