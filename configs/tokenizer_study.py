# GPT-2's tokenizer against BPE tokenizers trained on the corpus (4096, 8192 and 16384 tokens) at equal wall-clock:
# configs/python_stdlib.py's model and recipe (AdamW + cosine, 8 x 64 tokens a step) on each tokenization of
# Python's standard library, validation in bits per byte (issue 27, item 5). Each run's max_iters is the GPT-2 run's
# 200 steps times how much faster its steps are: 8.2x, 4.7x, 2.5x, from bench.py on one thread of the 2-core
# machine (2026-12-07, beside another one-thread run; ms/step 593 for GPT-2's, 72, 127, 239):
#   for V in 50304 4096 8192 16384; do python bench.py configs/demo.py configs/python_stdlib.py \
#       --vocab_size=$V --optimizer=adamw --steps 20; done
# then max_iters = 200 x GPT-2's ms/step / V's. Measure again on another machine. The report's wall-time column
# and its bits per byte against wall time curve show whether the budgets came out equal.
# Prepare the data first: data/python_stdlib as configs/python_stdlib.py says, then for V in 4096 8192 16384:
#   python prepare_text.py $(find $(python -c "import sysconfig; print(sysconfig.get_path('stdlib'))") \
#       -name "*.py" -not -path "*/site-packages/*" -not -path "*/test/*" -not -path "*/tests/*" \
#       -not -path "*/idlelib/*" | sort) --tokenizer bpe --vocab_size $V --out data/python_stdlib_bpe$V
# Sized for: one CPU core, ~2 minutes of training per run (4 runs), 10 evaluations of 40 batches each
# Command: python study.py run configs/tokenizer_study.py && python study.py report configs/tokenizer_study.py
# Parameters: 0.47M to 3.42M (GPT-2: 3.42M; BPE 4096, 8192, 16384: 0.47M, 0.73M, 1.25M: embedding vocab_size x 64)
# Logbook result: LOGBOOK.md 2026-12-07: val bpb 2.75 (GPT-2) against 2.05, 2.09, 2.12 (docs/tokenizer_study/)
configs = ["configs/demo.py", "configs/python_stdlib.py"]
settings = dict(eval_iters=40)  # 20k tokens per evaluation: 46 KB of text in GPT-2 tokens, ~80 KB in BPE 8192's
grid = [
    {"data_dir": ["data/python_stdlib"], "vocab_size": [50304], "max_iters": [200]},
    {"data_dir": ["data/python_stdlib_bpe4096"], "vocab_size": [4096], "max_iters": [1640]},
    {"data_dir": ["data/python_stdlib_bpe8192"], "vocab_size": [8192], "max_iters": [935]},
    {"data_dir": ["data/python_stdlib_bpe16384"], "vocab_size": [16384], "max_iters": [496]},
]
derived = {
    "lr_decay_iters": lambda max_iters: max_iters,  # every run's cosine ends with its budget
    "warmup_iters": lambda max_iters: max_iters // 10,
    "eval_interval": lambda max_iters: max_iters // 10,  # as many evaluations in every run
}
run_name = ["gpt2", "bpe4096", "bpe8192", "bpe16384"]
title = "GPT-2's tokenizer against trained BPE tokenizers at equal wall-clock (CPU-sized)"
