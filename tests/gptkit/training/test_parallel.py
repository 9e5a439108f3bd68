import pytest
import torch

from gptkit.config import TrainConfig
from gptkit.distributed import Run
from gptkit.errors import UserError
from gptkit.training.parallel import clip_gradients, gradient_sync, is_sharded, wrap_model
from model import GPT, GPTConfig


def trained_once(toggles, activation_checkpointing):
    """(loss, gradients, state_dict keys, attention calls) of one forward and backward pass with dropout on."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.1, **toggles))
    settings = TrainConfig(compile=False, activation_checkpointing=activation_checkpointing)
    wrapped = wrap_model(model, settings, Run())
    calls = []
    model.transformer.h[0].attn.register_forward_hook(lambda *_: calls.append(1))
    tokens = torch.randint(0, 64, (3, 17), generator=torch.Generator().manual_seed(1))
    _, loss = wrapped(tokens[:, :-1], tokens[:, 1:])
    loss.backward()
    return loss.item(), [p.grad for p in model.parameters()], list(model.state_dict()), len(calls)


@pytest.mark.parametrize("toggles", [{}, {"n_expert": 4, "pos_emb": "rope", "n_kv_head": 1}], ids=["dense", "moe"])
def test_activation_checkpointing_changes_no_loss_and_no_gradient(toggles):
    loss, grads, keys, calls = trained_once(toggles, activation_checkpointing=False)
    loss_ac, grads_ac, keys_ac, calls_ac = trained_once(toggles, activation_checkpointing=True)
    assert (calls, calls_ac) == (1, 2)  # the block ran again in the backward pass
    assert loss_ac == loss
    for grad, grad_ac in zip(grads, grads_ac, strict=True):
        torch.testing.assert_close(grad_ac, grad, rtol=0, atol=0)
    assert keys_ac == keys  # checkpoints stay interchangeable


def test_one_process_trains_the_model_itself():
    model = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=1, n_head=2, n_embd=16))
    assert wrap_model(model, TrainConfig(compile=False, parallelism="fsdp"), Run()) is model
    assert not is_sharded(model)
    with gradient_sync(model, last_micro_step=False):
        model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))[1].backward()
    expected = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert clip_gradients(model.parameters(), float("inf")).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"parallelism": "zero3"}, "parallelism must be one of ddp, fsdp"),
        ({"parallelism": "fsdp", "dtype": "float16"}, "not float16"),
        ({"init_from": "later"}, "init_from must be scratch, resume, auto"),
    ],
)
def test_bad_parallel_settings_are_refused(settings, message):
    with pytest.raises(UserError, match=message):
        TrainConfig(**settings)


def test_fsdp_refuses_a_float16_gpu():
    model = GPT(GPTConfig(vocab_size=64, block_size=16, n_layer=1, n_head=2, n_embd=16))
    with pytest.raises(UserError, match="no bfloat16"):
        wrap_model(model, TrainConfig(compile=False, parallelism="fsdp"), Run(world_size=2, dtype="float16"))
