"""gptkit/command_line.py, and the convention it gives every command: main(argv); an unknown flag, a missing
required argument or a bad value is one line on stderr and exit code 1; --foo_bar is also --foo-bar."""

import importlib

import pytest

from conftest import ROOT, assert_one_line_error, run_script
from gptkit.command_line import OneLineParser, add_model_source, underscored
from gptkit.errors import UserError, run_main

COMMANDS = sorted(path.name for path in ROOT.glob("*.py") if 'if __name__ == "__main__":' in path.read_text())

# The commands with required arguments, and those arguments: given, an unknown flag is the one thing wrong.
REQUIRED = {
    "consolidate.py": ["out"],
    "core.py": ["--checkpoint", "ckpt.pt"],
    "evaluate.py": ["--checkpoint", "ckpt.pt", "--data_dir", "data"],
    "export_hf.py": ["ckpt.pt", "hf"],
    "hellaswag.py": ["--checkpoint", "ckpt.pt"],
    "model.py": ["configs/demo.py"],
    "plot.py": ["out"],
    "sample.py": ["--hf", "gpt2"],
    "study.py": ["status", "configs/rope_theta_cpu_study.py"],
}


def parser():
    parser = OneLineParser("tool.py", "A tool.")
    parser.add_argument("--shard_size", type=int, default=10)
    parser.add_argument("--name")
    return parser


def test_hyphens_are_read_as_underscores_in_flag_names_only():
    assert underscored("--val-tokens=a-b") == "--val_tokens=a-b"
    assert [underscored(a) for a in ("-o", "a-b.txt", "--", "--top_k")] == ["-o", "a-b.txt", "--", "--top_k"]
    for argv in (["--shard_size", "5"], ["--shard-size", "5"], ["--shard-size=5"], ["--shard", "5"]):
        assert parser().parse_args(argv).shard_size == 5
    assert parser().parse_args(["--name=my-run"]).name == "my-run"  # a value keeps its hyphens


def test_help_shows_the_underscore_spelling():
    help_text = parser().format_help()
    assert "--shard_size SHARD_SIZE" in help_text and "--shard-size" not in help_text.replace("--foo-bar", "")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--shard_sise=5"], "unrecognized arguments: --shard_sise=5"),
        (["--shard_size", "five"], "argument --shard_size: invalid int value: 'five'"),
        (["--name"], "argument --name: expected one argument"),
    ],
)
def test_an_argument_error_is_one_line_naming_the_help(argv, message):
    with pytest.raises(UserError) as error:
        parser().parse_args(argv)
    assert str(error.value) == f"{message} (see python tool.py --help)"


def test_checkpoint_or_hf_is_one_required_either_or():
    source = OneLineParser("tool.py", "A tool.")
    add_model_source(source)
    assert source.parse_args(["--hf", "gpt2"]).hf == "gpt2"
    assert source.parse_args(["--checkpoint", "ckpt.pt"]).checkpoint == "ckpt.pt"
    with pytest.raises(UserError, match="one of the arguments --checkpoint --hf is required"):
        source.parse_args([])
    with pytest.raises(UserError, match="argument --hf: not allowed with argument --checkpoint"):
        source.parse_args(["--checkpoint", "ckpt.pt", "--hf", "gpt2"])


def exit_message(command, argv, capsys):
    """What run_main(main, argv) of a command ends with: SystemExit's message, which Python prints to stderr
    with exit code 1; nothing else may have been printed."""
    main = importlib.import_module(command.removesuffix(".py")).main
    with pytest.raises(SystemExit) as exit_:
        run_main(main, argv)
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err == ""
    assert isinstance(exit_.value.code, str) and "\n" not in exit_.value.code
    return exit_.value.code


def test_every_command_follows_the_convention():
    assert len(COMMANDS) >= 12 and set(REQUIRED) < set(COMMANDS)
    for command in COMMANDS:
        assert "run_main(main, sys.argv[1:])" in (ROOT / command).read_text(), command


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_flag_is_one_line(command, capsys):
    message = exit_message(command, [*REQUIRED.get(command, []), "--no_such_flag=1"], capsys)
    assert message.startswith("error: ") and "no_such_flag" in message


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_a_missing_required_argument_is_one_line(command, capsys):
    message = exit_message(command, [], capsys)
    assert message.startswith("error: ") and "required" in message, message


def test_old_hyphenated_spellings_keep_working(capsys):
    model = importlib.import_module("model")
    for spelling in ("--gpu_memory", "--gpu-memory"):
        model.main([str(ROOT / "configs" / "demo.py"), "--gpus", "2", spelling, "40"])
        assert "on 2 GPUs of 40 GB" in capsys.readouterr().out


def test_on_the_command_line_both_sources_are_one_line_and_exit_code_1():
    result = run_script("sample.py", "--checkpoint", "ckpt.pt", "--hf", "gpt2")
    assert_one_line_error(result, "argument --hf: not allowed with argument --checkpoint", "sample.py --help")
