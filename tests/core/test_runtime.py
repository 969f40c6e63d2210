import pytest
import torch

import simple_algebra as sa
from simple_algebra.core import runtime


def test_device_defaults_to_cuda_when_available(monkeypatch):
    monkeypatch.delenv(runtime.DEVICE_VARIABLE, raising=False)
    assert sa.device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_device_override_and_bad_values(monkeypatch):
    monkeypatch.setenv(runtime.DEVICE_VARIABLE, "cpu")
    assert sa.device() == torch.device("cpu")
    monkeypatch.setenv(runtime.DEVICE_VARIABLE, "not-a-device")
    with pytest.raises(ValueError, match="not a torch device"):
        sa.device()
    if not torch.cuda.is_available():
        monkeypatch.setenv(runtime.DEVICE_VARIABLE, "cuda")
        with pytest.raises(ValueError, match="no CUDA device"):
            sa.device()


def test_profile_follows_device_and_override(monkeypatch):
    monkeypatch.setenv(runtime.DEVICE_VARIABLE, "cpu")
    monkeypatch.delenv(runtime.PROFILE_VARIABLE, raising=False)
    assert sa.profile() == "cpu"
    assert sa.sizes(cpu=1, gpu=2) == 1
    monkeypatch.setenv(runtime.PROFILE_VARIABLE, "GPU")
    assert sa.profile() == "gpu"
    assert sa.sizes(cpu=1, gpu=2) == 2
    monkeypatch.setenv(runtime.PROFILE_VARIABLE, "huge")
    with pytest.raises(ValueError, match="must be one of"):
        sa.profile()


def test_same_seed_same_numbers():
    first = torch.rand(5, generator=sa.seed_everything(3))
    second = torch.rand(5, generator=sa.seed_everything(3))
    assert torch.equal(first, second)
    assert torch.equal(torch.rand(4, generator=sa.generator(9)), torch.rand(4, generator=sa.generator(9)))
    assert not torch.equal(torch.rand(4, generator=sa.generator(9)), torch.rand(4, generator=sa.generator(10)))


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seeds_raise(seed):
    with pytest.raises(ValueError, match="seed"):
        sa.seed_everything(seed)


def test_progress_is_quiet_when_asked(monkeypatch):
    monkeypatch.setenv(runtime.QUIET_VARIABLE, "1")
    bar = sa.progress(range(3))
    assert bar.disable and list(bar) == [0, 1, 2]
    monkeypatch.setenv(runtime.QUIET_VARIABLE, "0")
    assert not runtime.quiet()


def test_describe_names_device_and_profile(monkeypatch):
    monkeypatch.setenv(runtime.DEVICE_VARIABLE, "cpu")
    monkeypatch.delenv(runtime.PROFILE_VARIABLE, raising=False)
    assert sa.describe()["device"] == "cpu" and sa.describe()["profile"] == "cpu"


def test_one_thread_restores_the_thread_count_even_after_an_error():
    import torch

    from simple_algebra.core.runtime import one_thread

    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    try:
        with one_thread():
            raise RuntimeError("inside")
    except RuntimeError:
        pass
    assert torch.get_num_threads() == before
