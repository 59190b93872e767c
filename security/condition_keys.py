"""The condition keys SageMaker fills from a create request's KMS keys. The Service
Authorization Reference defines them as ARN-typed keys on CreateTrainingJob (and the other
creates that take a volume or output key); the older short names sagemaker:VolumeKmsKey and
sagemaker:OutputKmsKey are defined by no action any more, and a condition on a key IAM never
fills matches nothing, so every create would be refused.
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html

Said here, beside the OpenForge checks that demand them on every SageMaker create, and
imported by the fine-tuning pipeline construct that writes those statements.
"""

KEY_CONDITION = "ArnEquals"
VOLUME_KMS_KEY = "sagemaker:VolumeKmsKeyArn"
OUTPUT_KMS_KEY = "sagemaker:OutputKmsKeyArn"
