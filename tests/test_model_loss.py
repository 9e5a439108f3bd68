"""model.py's loss: with targets GPT.forward returns the loss alone, computed chunk by chunk, equal to the plain
cross-entropy of the logits it returns without targets, with the same gradients for every parameter."""

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_gpt
from gptkit.errors import UserError


@pytest.mark.parametrize("overrides", [{}, {"tie_embeddings": False}, {"n_expert": 4, "n_expert_active": 2}])
def test_loss_equals_cross_entropy_of_the_logits_with_the_same_gradients(overrides):
    model = tiny_gpt(**overrides).eval()
    idx, targets = torch.randint(0, 101, (2, 3, 32))
    targets[:, -4:] = -1  # ignored positions, as padding
    gradients = {}
    for implementation in ("chunked", "full"):
        model.use_cross_entropy(implementation)
        model.zero_grad()
        logits, loss = model(idx, targets)
        assert logits is None  # no full logits when the loss is asked for
        loss.backward()
        gradients[implementation] = {name: p.grad.clone() for name, p in model.named_parameters()}
        with torch.no_grad():
            expected = F.cross_entropy(model(idx)[0].view(-1, 101), targets.view(-1), ignore_index=-1)
        assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
    for name, grad in gradients["chunked"].items():
        torch.testing.assert_close(grad, gradients["full"][name], rtol=1e-4, atol=1e-6, msg=name)


def test_per_position_losses_are_zero_where_ignored():
    model = tiny_gpt().eval()
    idx, targets = torch.randint(0, 101, (2, 3, 32))
    targets[0, :5] = -1
    with torch.no_grad():
        logits, _ = model(idx)
        _, losses = model(idx, targets, reduction="none")
    expected = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-1, reduction="none")
    torch.testing.assert_close(losses, expected)
    assert losses[0, :5].abs().max() == 0 and losses.shape == (3, 32)


def test_training_loss_adds_the_moe_aux_loss_to_the_mean_only():
    model = tiny_gpt(n_expert=4, n_expert_active=2, moe_aux_loss_coef=0.5).train()
    idx, targets = torch.randint(0, 101, (2, 2, 16))
    _, train_loss = model(idx, targets)
    _, losses = model(idx, targets, reduction="none")
    assert train_loss.item() == pytest.approx(losses.mean().item() + 0.5 * model.last_aux_loss.item(), abs=1e-5)


def test_an_unknown_cross_entropy_is_refused_in_one_line():
    with pytest.raises(UserError, match=r"^cross_entropy must be one of chunked, full, liger, got 'fast'$"):
        tiny_gpt().use_cross_entropy("fast")
