"""The pipeline on this machine, for ``make demo``: ``python -m pipeline.local`` runs the state
machine's steps in its order, each through the code the cloud runs, with a folder for S3,
the training container as a subprocess and a local MLflow server (main.py says how).

    main.py         the command line: its help, the pipeline input, the exit status
    runner.py       a run from the start: the work folder, the account's data, MLflow, the execution
    execution.py    one execution: the steps in order, the state carried between them, the summary
    jobs.py         a CreateTrainingJob request run here as SageMaker would run it
    sanitise.py     the sanitisation states on the S3 stand-in, through their Lambdas' code
    smoke_test.py   the chosen model answering one held-out prompt, in place of the endpoint
    s3.py           the S3 stand-in: a folder, and the few boto3 calls the Lambda code makes
    tracking.py     a local MLflow server, standing in for SageMaker's managed MLflow
    demo_data.py    what the account holds before a run: base model, raw export, curated pool
    console.py      what the runner prints
"""
