"""Staging the public sets: the MMLU tarball and IFEval file laid out and checked, then
uploaded to a KMS-encrypted bucket (moto); here from local copies, as tests have no internet."""
import io
import json
import tarfile

import boto3
import pytest
from moto import mock_aws

from openforge_training.errors import InputError
from openforge_training.evaluation import stage
from openforge_training.evaluation.layout import mmlu_subjects

ROWS = b'"What is 2+2?",3,4,5,6,B\n"Largest planet?",Mars,Venus,Jupiter,Earth,C\n'


def mmlu_tar(path, members):
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_mmlu_and_ifeval_are_laid_out_and_uploaded(tmp_path):
    tar = mmlu_tar(tmp_path / "data.tar", {"data/dev/astronomy_dev.csv": ROWS, "data/test/astronomy_test.csv": ROWS,
                                            "data/test/math_test.csv": ROWS, "data/val/astronomy_val.csv": ROWS, "data/README.txt": b"x"})
    ifeval = tmp_path / "input_data.jsonl"
    ifeval.write_text(json.dumps({"key": 1, "prompt": "p", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}) + "\n")
    out = tmp_path / "eval"

    assert stage.stage_mmlu(tar, out) == {"dev": 2, "test": 4}
    assert stage.stage_ifeval(ifeval, out) == 1
    assert mmlu_subjects(out) == ["astronomy", "math"] and not (out / "mmlu" / "val").exists()

    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="datasets")
        s3.put_bucket_encryption(Bucket="datasets", ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
        assert stage.upload(out, "s3://datasets/eval/", client=s3) == 4
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="datasets")["Contents"])
        assert keys == ["eval/ifeval/input_data.jsonl", "eval/mmlu/dev/astronomy_dev.csv", "eval/mmlu/test/astronomy_test.csv", "eval/mmlu/test/math_test.csv"]
        assert s3.head_object(Bucket="datasets", Key=keys[0])["ServerSideEncryption"] == "aws:kms"


def test_bad_sources_are_refused_with_where_and_why(tmp_path):
    with pytest.raises(InputError, match="math_test.csv:3: expected question, A, B, C, D, answer"):
        stage.stage_mmlu(mmlu_tar(tmp_path / "a.tar", {"data/test/math_test.csv": ROWS + b"q,1,2,E\n"}), tmp_path / "out")
    with pytest.raises(InputError, match="is it the MMLU tarball"):
        stage.stage_mmlu(mmlu_tar(tmp_path / "b.tar", {"other/file.csv": ROWS}), tmp_path / "out")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"key": 1, "prompt": "p", "instruction_id_list": ["a", "b"], "kwargs": [{}]}) + "\n")
    with pytest.raises(InputError, match="bad.jsonl:1: not an IFEval item"):
        stage.stage_ifeval(bad, tmp_path / "out")
    with pytest.raises(InputError, match="--s3-uri must look like"):
        stage.upload(tmp_path, "datasets/eval")
