"""An execution's ARN leads back to its environment, whose names all derive from it."""
from openforge_contract import naming


def test_an_execution_names_its_environment():
    machine = naming.fine_tuning_state_machine("dev-eu")
    assert machine == "OpenForge-dev-eu-FineTune"
    assert naming.environment_of_execution(f"arn:aws:states:eu-west-1:111111111111:execution:{machine}:tickets-1") == "dev-eu"


def test_endpoints_are_named_in_lower_case_and_tagged_as_the_environments():
    assert naming.endpoint_name_prefix("Dev") == "openforge-dev-"
    assert naming.owner_tags("dev") == {"openforge:managed-by": "openforge", "openforge:environment": "dev"}
    assert all(key.startswith(naming.TAG_NAMESPACE) for key in (naming.TAG_EXECUTION, naming.TAG_JOB, naming.TAG_STEP, *naming.owner_tags("dev")))
