"""
A training checkpoint exported as a transformers folder, and as a GGUF file beside it where asked: the one place
of the export's steps, called by export_hf.py and by study.py's --push_to_hub.

The steps, in order: read the checkpoint; build the model from it (which checks the weights fit the config);
check that the GGUF can be written, before any file is; write the folder (config, weights, tokenizer, modelling
code where needed: gptkit/interop/hf_format.py); write its README.md model card from the run's own figures, the
train.py command that repeats the run and the evaluation results given (gptkit/interop/model_card.py); write the
GGUF (gptkit/interop/gguf_export.py).

The invariant the tests check: the folder computes the checkpoint's logits, its card holds the run's figures
and the evaluation results given, and a refused GGUF leaves no file written.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

from gptkit.checkpointing.checkpoint import load_checkpoint
from gptkit.config import TrainConfig
from gptkit.data.tokenizer import saved_tokenizer
from gptkit.interop.gguf_export import check_gguf_export, write_gguf
from gptkit.interop.hf_format import write_folder
from gptkit.interop.model_card import model_card, run_summary, training_command, with_eval_results


@dataclass
class Exported:
    """What an export wrote."""

    folder: Path
    family: str  # gpt2, starcoder2, or gptkit (its modelling code in the folder: trust_remote_code=True)
    gguf_architecture: str | None = None  # of the GGUF file, where one was written


def export_checkpoint(
    checkpoint_path, folder, model_class, dtype="float32", card_name=None, eval_results=(), gguf=None, gguf_type="f16"
):
    """Exports the checkpoint into folder (and the GGUF file gguf, if given). model_class is model.py's GPT (the
    package imports no command); card_name is what the card's loading examples call the model (default: the
    folder's name); eval_results are huggingface_hub EvalResults for the card's model-index metadata."""
    checkpoint = load_checkpoint(checkpoint_path)
    model = model_class.from_checkpoint(checkpoint)  # checks the weights fit the config
    model_config, tokenizer = asdict(model.config), saved_tokenizer(checkpoint, checkpoint_path)  # a trained one too
    if gguf:
        check_gguf_export(model_config, tokenizer, gguf_type, gguf)  # before any file is written
    family = write_folder(folder, model_config, model.state_dict(), tokenizer, dtype)
    name = card_name or Path(folder).name
    defaults = asdict(type(model.config)()), asdict(TrainConfig())
    command = training_command(model_config, checkpoint.get("train_config", {}), *defaults)
    summary = run_summary(checkpoint_path, checkpoint)
    card = model_card(family, model_config, tokenizer.name, model.num_params(), summary, command, name)
    (Path(folder) / "README.md").write_text(with_eval_results(card, eval_results, name))
    exported = Exported(Path(folder), family)
    if gguf:
        state_dict = model.state_dict()
        exported.gguf_architecture = write_gguf(gguf, model_config, state_dict, tokenizer, gguf_type, name)
    return exported
