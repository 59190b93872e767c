"""The container entrypoint: SageMaker's `train` word, one process per device and host."""
import json

from openforge_training import launch


def test_sagemaker_hosts_and_rank_come_from_resourceconfig(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"], "current_instance_type": "ml.p5.48xlarge"}))
    assert launch.hosts(tmp_path) == (["algo-1", "algo-2"], 1)


def test_torchrun_command_spans_every_host_and_device():
    command = launch.torchrun_argv(["--max_steps", "5"], ["algo-1", "algo-2"], 1, 8)
    assert command[:5] == ["torchrun", "--nnodes=2", "--node_rank=1", "--nproc_per_node=8", "--master_addr=algo-1"]
    assert command[-4:] == ["-m", "openforge_training.train", "--max_steps", "5"]


def test_one_device_on_one_host_trains_in_process_and_drops_the_train_word(job):
    job.write_data(customer=16, per_category=8)
    code = launch.main(["train", *job.argv(max_steps=2, global_batch_size=4, per_device_batch_size=4, max_length=64)])
    assert code == 0 and (job.output / "model.safetensors").is_file()


def resources(instance_type: str, hosts: int = 2) -> dict:
    return {"current_host": "algo-1", "hosts": [f"algo-{n + 1}" for n in range(hosts)], "current_instance_type": instance_type,
            "network_interface_name": "eth0"}


def test_efa_is_configured_for_nccl_between_p5_hosts():
    assert launch.efa_environment(resources("ml.p5.48xlarge")) == {"FI_PROVIDER": "efa", "NCCL_SOCKET_IFNAME": "eth0"}


def test_efa_rdma_is_asked_for_on_p4d_and_trainium():
    for instance_type in ("ml.p4d.24xlarge", "ml.trn1.32xlarge"):
        assert launch.efa_environment(resources(instance_type)) == {"FI_PROVIDER": "efa", "FI_EFA_USE_DEVICE_RDMA": "1", "NCCL_SOCKET_IFNAME": "eth0"}


def test_no_efa_on_a_type_without_it_on_one_host_or_off_sagemaker():
    assert launch.efa_environment(resources("ml.g5.2xlarge")) == {"NCCL_SOCKET_IFNAME": "eth0"}  # no EFA: NCCL's sockets on the job's interface
    assert launch.efa_environment(resources("ml.p5.48xlarge", hosts=1)) == {}
    assert launch.efa_environment(None) == {}


def test_trainium_starts_one_process_per_logical_neuroncore_as_the_plan_counts(monkeypatch):
    """The capacity plan and the launcher count processes from the same catalogue entry."""
    from openforge_training.launch import devices_per_host

    from openforge_contract.capacity_plan import plan_training

    monkeypatch.setenv("OPENFORGE_DEVICE", "neuron")
    monkeypatch.delenv("NEURON_CORES_PER_HOST", raising=False)
    tiny = {"model_type": "llama", "vocab_size": 300, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4}
    for instance in ("ml.trn1.32xlarge", "ml.trn2.48xlarge"):
        assert devices_per_host(instance) == plan_training(tiny, instance_type=instance, per_device_batch_size=1, global_batch_size=64).devices
    assert devices_per_host("ml.trn1.32xlarge") == 32 and devices_per_host("ml.trn2.48xlarge") == 64
    assert devices_per_host(None) == 32  # not known: the default Trainium type's
    monkeypatch.setenv("NEURON_CORES_PER_HOST", "16")
    assert devices_per_host("ml.trn2.48xlarge") == 16  # the job's own setting wins
