"""The platform with one unencrypted, unlogged bucket added: the security review must refuse it."""
from aws_cdk import aws_s3 as s3

from app import build_app

app, platform = build_app()
s3.Bucket(platform.data, "Forgotten")
app.synth()
