"""
Text from a model: the sampling function shared by sample.py and the training loop's samples.

Sampling draws from its own generator seeded by `seed`, so the same seed gives the same text and a sample
taken during training leaves the training RNG (dropout, data order) untouched.
"""

import torch


def sample(model, tokenizer, prompt, run, *, num_samples=1, max_new_tokens=200, temperature=0.8, top_k=200, seed=0):
    """num_samples continuations of prompt (an empty prompt starts from end-of-text), as strings, computed on the
    run's device in its dtype (gptkit.distributed.Run). temperature 0 or top_k 1 is greedy decoding. The model is
    put in eval mode for it and left in the mode it was in."""
    tokens = tokenizer.encode(prompt) or [tokenizer.eot_token]
    if model.config.pos_emb == "learned" and len(tokens) >= model.config.block_size:  # RoPE reads past it
        tokens = tokens[-(model.config.block_size - 1) :]
    idx = torch.tensor([tokens] * num_samples, device=run.device)
    generator = torch.Generator(run.device).manual_seed(seed)  # its own generator: the global RNG stays untouched
    was_training = model.training
    model.eval()
    with run.autocast():
        out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, generator=generator)
    model.train(was_training)
    return [tokenizer.decode(row[len(tokens) :].tolist()) for row in out]
