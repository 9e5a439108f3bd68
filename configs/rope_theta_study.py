# The RoPE theta study: the 113M RoPE + GQA model of configs/rope_theta.py trained at 1024, 4096 and 8192 tokens
# of context with rope_theta 1e4, 1e5, 5e5, 2e6 and 1e7, 15 runs one after the other, each 0.5M tokens per step;
# then each finished run evaluated past its training length (loss by position, perplexity, the copy probe, the
# retrieval probe by distance inside the training length and past it, the pass key, each RoPE scaling), and the
# report with the same sections as the CPU example's, Predictions included (out/rope_theta_study/report.md). One
# seed per cell: `seeds = [1337, 1338]` here trains each cell twice (30 runs) and sizes the noise between seeds.
# Sized for: 8x H100 80 GB, 15 runs of 19073 steps (10B tokens each)
# Command: python study.py run configs/rope_theta_study.py --nproc_per_node 8
# Parameters: 113.06M
# Logbook result: not run yet; the CPU-sized study of docs/rope_theta_cpu_study/ is configs/rope_theta_cpu_study.py
configs = ["configs/rope_theta.py"]
grid = {"block_size": [1024, 4096, 8192], "rope_theta": [1e4, 1e5, 5e5, 2e6, 1e7]}
derived = {"micro_batch_size": lambda block_size: 65536 // block_size}  # 64 x 1024 = 16 x 4096 = 8 x 8192 per GPU
run_name = "ctx{block_size}_theta{rope_theta}"
table = ["rope_theta", "block_size"]
evaluation = {
    "windows": 64,
    "windows_from": "docs",
    "rope_scaling": ["none", "linear", "dynamic", "yarn"],
    "parts": ["positions", "perplexity", "probe", "retrieval", "passkey"],
    "retrieval_trials": 32,
}
evaluation_name = "long_context"
