import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The real GPT-2 encoding from the tiktoken cache beside the checkout: no download needed in tests or CI.
_cache = ROOT.parent / "shared" / "tiktoken_cache"
if "TIKTOKEN_CACHE_DIR" not in os.environ and _cache.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_cache)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_SILENT", "true")


def run_script(script, *args, cwd=ROOT, launcher=(sys.executable,), env=None):
    """Run one of the repository's scripts in a new process, as a user would; returns the CompletedProcess."""
    command = [*launcher, str(ROOT / script), *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
