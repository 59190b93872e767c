"""The pipeline's two clients (the state machine itself is built in constructs/):

    cli/         a terminal against a real account: start a run, follow it, read its summary, stop it
    local/       this machine running the pipeline's steps for ``make demo``, with no account
    summary.py   the run's summary as a person reads it, which both print
"""
