"""The platform's configuration: each environment of cdk.json parsed into one typed, frozen
object. Imports no CDK code, so the CDK app, the local runner and the tests read it alike."""
