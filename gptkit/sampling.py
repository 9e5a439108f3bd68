"""
Text from a model: the sampling function shared by sample.py and the training loop's samples.

Sampling draws from its own generator seeded by `seed`, so the same seed gives the same text and a sample
taken during training leaves the training RNG (dropout, data order) untouched.
"""

import torch

from gptkit.precision import autocast_context, pick_dtype


def sample(model, tokenizer, prompt, num_samples, max_new_tokens, temperature, top_k, seed, device, dtype="auto"):
    """num_samples continuations of prompt (an empty prompt starts from end-of-text), as strings; the model
    is put in eval mode for it and left in the mode it was in."""
    tokens = tokenizer.encode(prompt) or [tokenizer.eot_token]
    if model.config.pos_emb == "learned" and len(tokens) >= model.config.block_size:  # RoPE reads past it
        tokens = tokens[-(model.config.block_size - 1) :]
    idx = torch.tensor([tokens] * num_samples, device=device)
    generator = torch.Generator(device).manual_seed(seed)  # its own generator: the global RNG stays untouched
    device_type = device.split(":")[0]
    was_training = model.training
    model.eval()
    with autocast_context(device_type, pick_dtype(dtype, device_type)):
        out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, generator=generator)
    model.train(was_training)
    return [tokenizer.decode(row[len(tokens) :].tolist()) for row in out]
