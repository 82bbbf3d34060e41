"""GPU jobs on one machine each get GPUs of their own, and give them back when they end, killed or not."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from qaclims.runtime.gpu_claims import claim_gpus, try_claim, visible_gpus


def release(claim) -> None:
    for descriptor in claim.lock_descriptors:
        os.close(descriptor)


def test_visible_gpus_follow_cuda_visible_devices_and_else_the_driver():
    driver = lambda: ["0", "1", "2"]  # noqa: E731
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 0"}, driver) == ["2", "0"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, driver) == []
    assert visible_gpus({}, driver) == ["0", "1", "2"]


def test_claims_take_different_gpus_until_none_is_free(tmp_path):
    first = try_claim(["0", "1"], 1, tmp_path)
    second = try_claim(["0", "1"], 1, tmp_path)
    assert first.devices == ["0"] and second.devices == ["1"]
    assert try_claim(["0", "1"], 1, tmp_path) is None
    release(first)
    assert try_claim(["0", "1"], 1, tmp_path).devices == ["0"]


def test_a_claim_is_all_or_nothing(tmp_path):
    held = try_claim(["0", "1"], 1, tmp_path)
    assert try_claim(["0", "1"], 2, tmp_path) is None
    # The failed claim of two let go of GPU 1 again.
    assert try_claim(["0", "1"], 1, tmp_path).devices == ["1"]
    release(held)


def test_device_names_that_are_no_file_names_still_get_a_lock(tmp_path):
    claim = try_claim(["GPU-1a2b/3", "MIG-4:5"], 2, tmp_path)
    assert claim.devices == ["GPU-1a2b/3", "MIG-4:5"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gpu-GPU-1a2b_3.lock", "gpu-MIG-4_5.lock"]


def test_asking_for_more_gpus_than_visible_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="asks for 3 GPUs but only 2 are visible"):
        claim_gpus(["0", "1"], 3, tmp_path)


def test_a_claim_waits_until_a_gpu_is_given_back(tmp_path):
    held = try_claim(["0"], 1, tmp_path)
    waits = []
    threading.Timer(0.3, release, args=(held,)).start()
    claim = claim_gpus(["0"], 1, tmp_path, poll_seconds=0.05, on_wait=lambda: waits.append(1))
    assert claim.devices == ["0"] and len(waits) >= 2


# The command-line launcher, as jobs use it: a stand-in for the driver's nvidia-smi lists two GPUs.
SHOW_DEVICES = "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'), flush=True)"


@pytest.fixture
def two_gpu_driver(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def launcher_environment(overrides: dict) -> dict:
    base = {key: value for key, value in os.environ.items() if key not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    return {**base, **overrides}


def launch(gpus: int, lock_dir, code: str, environment: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "qaclims.runtime.on_gpus", "--gpus", str(gpus), "--lock-dir", str(lock_dir), "--",
               sys.executable, "-c", code]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=launcher_environment(environment))


def first_line(process: subprocess.Popen) -> str:
    return process.stdout.readline().strip()


def test_two_jobs_run_on_different_gpus_and_a_killed_job_gives_its_gpu_back(tmp_path, two_gpu_driver):
    hold = SHOW_DEVICES + "; import time; time.sleep(60)"
    first = launch(1, tmp_path / "locks", hold, two_gpu_driver)
    second = launch(1, tmp_path / "locks", hold, two_gpu_driver)
    try:
        assert {first_line(first), first_line(second)} == {"0", "1"}
        # Both GPUs are taken: a third job waits and says so in its log.
        third = launch(1, tmp_path / "locks", SHOW_DEVICES, two_gpu_driver)
        time.sleep(1.0)
        assert third.poll() is None
        first.send_signal(signal.SIGKILL)
        first.wait()
        output, errors = third.communicate(timeout=30)
        assert "waiting for 1 of GPUs 0, 1" in errors and "pinned to GPU" in errors
        assert output.strip() in {"0", "1"}
    finally:
        for process in (first, second):
            process.kill()
            process.wait()


def test_cpu_jobs_see_no_gpu_and_slurm_jobs_keep_theirs(tmp_path, two_gpu_driver):
    cpu = launch(0, tmp_path / "locks", SHOW_DEVICES, two_gpu_driver)
    assert cpu.communicate(timeout=30)[0].strip() == ""
    slurm = launch(1, tmp_path / "locks", SHOW_DEVICES, {**two_gpu_driver, "SLURM_JOB_ID": "7",
                                                         "CUDA_VISIBLE_DEVICES": "3"})
    assert slurm.communicate(timeout=30)[0].strip() == "3"
    assert not (tmp_path / "locks").exists()


def test_without_gpus_the_job_runs_unchanged_on_the_cpu(tmp_path):
    no_driver = {"PATH": str(tmp_path)}  # no nvidia-smi on it
    job = subprocess.run([sys.executable, "-m", "qaclims.runtime.on_gpus", "--gpus", "1", "--lock-dir", str(tmp_path / "l"),
                          "--", sys.executable, "-c", SHOW_DEVICES], capture_output=True, text=True,
                         env=launcher_environment(no_driver), timeout=30)
    assert job.returncode == 0 and job.stdout.strip() == "unset"


def test_asking_for_more_gpus_than_the_machine_has_stops_with_a_message(tmp_path, two_gpu_driver):
    job = launch(3, tmp_path / "locks", SHOW_DEVICES, two_gpu_driver)
    output, errors = job.communicate(timeout=30)
    assert job.returncode == 2 and output == ""
    assert "asks for 3 GPUs but only 2 are visible" in errors and "`gpus`" in errors
