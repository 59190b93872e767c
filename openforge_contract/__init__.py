"""The facts every side of OpenForge shares, said once: the CDK app, the Lambdas (shipped in
their shared layer), the training container (copied into its image), the command-line client
and the local runner all import them from here.

    states                 the pipeline's state names
    execution_data         where the states put their results in the execution's JSON, and its output
    s3_layout              the buckets' prefixes and the sanitised output's folders
    naming                 stack, state machine, cluster, bucket and SageMaker resource names; tag keys
    instance_catalogue     every instance type OpenForge runs on, and where it may be used
    environment_variables  the variables the stacks set on each Lambda and the handlers read
    run_record             the files a run's jobs leave next to the model
    capacity               parameter counts, memory per device and FLOPs per token, from config.json alone
    capacity_plan          a run's capacity and cost plan: fits or not, the fixes, hours and dollars
    capacity_table         the docs' plan table for the reference models (python -m openforge_contract.capacity_table)
    reference_models       the four reference models' config.json values and published sizes

Standard library only, and no module imports another package of ours (a test checks):
whatever runs OpenForge's code can import it. Nothing is imported here, so importing one
module loads only that module.
"""
