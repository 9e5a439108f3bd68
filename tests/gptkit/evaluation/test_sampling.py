import pytest
import torch

from conftest import TINY_GPT2, tiny_gpt
from gptkit.data.tokenizer import get_tokenizer
from gptkit.distributed import Run
from gptkit.evaluation.sampling import sample


def test_sampling_with_a_seed_is_reproducible():
    model = tiny_gpt(**TINY_GPT2, pos_emb="rope")
    tokenizer = get_tokenizer("gpt2")
    settings = dict(num_samples=2, max_new_tokens=20, temperature=1.0, top_k=50)
    first = sample(model, tokenizer, "Hello", Run(), **settings, seed=3)
    again = sample(model, tokenizer, "Hello", Run(), **settings, seed=3)
    other = sample(model, tokenizer, "Hello", Run(), **settings, seed=4)
    assert first == again and first != other


@pytest.mark.parametrize("temperature,top_k", [(0.0, 200), (0.8, 1)])
def test_zero_temperature_or_top_k_one_is_greedy(temperature, top_k):
    model = tiny_gpt(**TINY_GPT2)
    tokenizer = get_tokenizer("gpt2")
    prompt = tokenizer.encode("Hello world")
    tokens = list(prompt)
    for _ in range(15):  # greedy decoding written out: the most likely next token, the whole prefix re-read
        with torch.no_grad():
            logits, _ = model(torch.tensor([tokens]))
        tokens.append(logits[0, -1].argmax().item())
    text = sample(model, tokenizer, "Hello world", Run(), max_new_tokens=15, temperature=temperature, top_k=top_k)[0]
    assert text == tokenizer.decode(tokens[len(prompt) :])


def test_a_sample_during_training_leaves_the_training_rng_and_mode_alone():
    model = tiny_gpt(**TINY_GPT2, dropout=0.1).train()
    tokenizer = get_tokenizer("gpt2")
    torch.manual_seed(5)
    expected_next_draw = torch.rand(3)
    torch.manual_seed(5)
    sample(model, tokenizer, "Hello", Run(), max_new_tokens=10, temperature=1.0, top_k=50)
    assert torch.equal(torch.rand(3), expected_next_draw)  # dropout and data order go on as without the sample
    assert model.training
