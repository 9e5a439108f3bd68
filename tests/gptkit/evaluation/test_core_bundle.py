"""gptkit/evaluation/core_bundle.py: the shipped hand-made bundle is read as its files say; a bundle missing or
incomplete is one line naming the file, and nothing is written; a download fills the cache whole or not at all."""

import json
import shutil
import zipfile

import pytest

from conftest import CORE_BUNDLE, snapshot
from gptkit.errors import UserError
from gptkit.evaluation.core_bundle import BUNDLE_URL, locate_bundle, read_bundle


def file_examples(name):
    with open(CORE_BUNDLE / "eval_data" / "toy" / name) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_the_tasks_are_read_as_core_yaml_and_the_baselines_say():
    tasks = read_bundle(CORE_BUNDLE)
    assert [t.label for t in tasks] == ["toy_choice", "toy_schema", "toy_completion", "toy_answer"]
    assert [t.task_type for t in tasks] == ["multiple_choice", "schema", "language_modeling", "language_modeling"]
    assert [t.num_fewshot for t in tasks] == [1, 0, 0, 2]  # DCLM's list form ([1]) and a plain count
    assert [t.continuation_delimiter for t in tasks] == [" ", " ", " ", "\nAnswer: "]  # " " where none is given
    assert [t.random_baseline for t in tasks] == [25.0, 50.0, 0.0, 0.0]
    assert [len(t.examples) for t in tasks] == [5, 3, 4, 3]


def test_examples_are_shuffled_the_same_way_every_time_and_max_per_task_keeps_the_first():
    every = read_bundle(CORE_BUNDLE)[0].examples
    in_file = file_examples("choice.jsonl")
    assert sorted(map(json.dumps, every)) == sorted(map(json.dumps, in_file))
    assert every != in_file  # shuffled: nanochat draws the few-shot examples by position in this order
    assert read_bundle(CORE_BUNDLE)[0].examples == every
    assert read_bundle(CORE_BUNDLE, max_per_task=3)[0].examples == every[:3]
    assert [len(t.examples) for t in read_bundle(CORE_BUNDLE, max_per_task=4)] == [4, 3, 4, 3]


def replace_line(path, number, text):
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def remove(path):
    path.unlink()


# (what breaks the bundle, the file the message names relative to the bundle, what the message says)
BROKEN = [
    (lambda b: remove(b / "core.yaml"), "core.yaml", "not found: the CORE bundle"),
    (lambda b: remove(b / "eval_meta_data.csv"), "eval_meta_data.csv", "not found: the CORE bundle"),
    (lambda b: remove(b / "eval_data/toy/schema.jsonl"), "eval_data/toy/schema.jsonl", "not found (task 'toy_schema')"),
    (lambda b: (b / "core.yaml").write_text("icl_tasks: [unclosed"), "core.yaml", "not YAML"),
    (lambda b: (b / "core.yaml").write_text("tasks: []\n"), "core.yaml", "no icl_tasks list"),
    (
        lambda b: (b / "core.yaml").write_text((b / "core.yaml").read_text().replace("type: schema", "type: ranking")),
        "core.yaml",
        "task toy_schema: icl_task_type must be one of multiple_choice, schema, language_modeling, got 'ranking'",
    ),
    (
        lambda b: (b / "core.yaml").write_text((b / "core.yaml").read_text().replace("[1]", "[-1]")),
        "core.yaml",
        "task toy_choice: num_fewshot must be a count (or a list of them), got [-1]",
    ),
    (
        lambda b: replace_line(b / "eval_meta_data.csv", 3, "toy_schemata,toy,schema,0,3,50,renamed"),
        "eval_meta_data.csv",
        "has no random baseline for task 'toy_schema'",
    ),
    (
        lambda b: replace_line(b / "eval_meta_data.csv", 2, "toy_choice,toy,multiple choice,1,5,a quarter,x"),
        "eval_meta_data.csv:2",
        "the random baseline must be a percentage below 100, got 'a quarter'",
    ),
    (
        lambda b: replace_line(b / "eval_data/toy/choice.jsonl", 2, '{"query": "Go.", '),
        "eval_data/toy/choice.jsonl:2",
        "not a JSON line",
    ),
    (
        lambda b: replace_line(b / "eval_data/toy/schema.jsonl", 3, '{"context_options": ["a", "b"], "gold": 1}'),
        "eval_data/toy/schema.jsonl:3",
        "not a schema example (no continuation)",
    ),
    (
        lambda b: replace_line(b / "eval_data/toy/choice.jsonl", 4, '{"query": "Q", "choices": ["a", "b"], "gold": 2}'),
        "eval_data/toy/choice.jsonl:4",
        "not a multiple_choice example (gold must be the index of an option, 0 ... 1, got 2)",
    ),
    (
        lambda b: replace_line(b / "eval_data/toy/completion.jsonl", 1, '{"context": "Go.", "continuation": 7}'),
        "eval_data/toy/completion.jsonl:1",
        "not a language_modeling example (continuation must be text)",
    ),
    (
        lambda b: (b / "eval_data/toy/answer.jsonl").write_text("\n"),
        "eval_data/toy/answer.jsonl",
        "holds no language_modeling examples",
    ),
]


@pytest.mark.parametrize("breakage,named,message", BROKEN)
def test_a_broken_bundle_is_one_line_naming_the_file_and_nothing_is_written(tmp_path, breakage, named, message):
    bundle = shutil.copytree(CORE_BUNDLE, tmp_path / "eval_bundle")
    breakage(bundle)
    before = snapshot(tmp_path)
    with pytest.raises(UserError) as error:
        read_bundle(bundle)
    assert str(error.value).startswith(str(bundle / named)) and message in str(error.value), str(error.value)
    assert "\n" not in str(error.value)
    assert snapshot(tmp_path) == before


def test_too_few_examples_for_the_few_shot_count_says_what_to_raise():
    with pytest.raises(UserError, match=r"^task 'toy_answer' shows 2 other .* of its 2: max_per_task must be above 2$"):
        read_bundle(CORE_BUNDLE, max_per_task=2)


def bundle_zip(path, top_folder="eval_bundle"):
    """The shipped bundle zipped as nanochat's eval_bundle.zip is: everything under one eval_bundle/ folder."""
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(CORE_BUNDLE.rglob("*")):
            if file.is_file():
                archive.write(file, f"{top_folder}/{file.relative_to(CORE_BUNDLE)}")
    return path


def test_the_bundle_is_downloaded_once_into_the_cache(tmp_path):
    cache = tmp_path / "cache" / "gptkit" / "eval_bundle"
    url = bundle_zip(tmp_path / "eval_bundle.zip").as_uri()  # a file:// address: urllib reads it like an https one
    assert locate_bundle(url=url, cache=cache) == cache
    downloaded = {p.relative_to(cache): p.read_bytes() for p in cache.rglob("*") if p.is_file()}
    assert downloaded == {p.relative_to(CORE_BUNDLE): p.read_bytes() for p in CORE_BUNDLE.rglob("*") if p.is_file()}
    assert [p.name for p in cache.parent.iterdir()] == ["eval_bundle"]  # no staging folder left behind
    assert locate_bundle(url="file:///nowhere/eval_bundle.zip", cache=cache) == cache  # not downloaded again


@pytest.mark.parametrize(
    "archive,message",
    [
        (None, "could not download the CORE eval bundle from file:///"),
        ("not a zip", "could not download the CORE eval bundle from file:///"),
        ("no core.yaml", "holds no core.yaml: it is not the CORE eval bundle"),
    ],
)
def test_a_failed_download_is_one_line_naming_what_to_fetch_and_where_to_put_it(tmp_path, archive, message):
    source = tmp_path / "eval_bundle.zip"
    if archive == "not a zip":
        source.write_text("<html>offline</html>")
    elif archive == "no core.yaml":
        with zipfile.ZipFile(source, "w") as zipped:
            zipped.writestr("eval_bundle/eval_meta_data.csv", "Eval Task,Random baseline\n")
    cache = tmp_path / "cache" / "gptkit" / "eval_bundle"
    with pytest.raises(UserError) as error:
        locate_bundle(url=source.as_uri(), cache=cache)
    line = str(error.value)
    assert message in line and f"download {BUNDLE_URL}" in line and f"at {cache}" in line and "--bundle DIR" in line
    assert "\n" not in line
    assert not (tmp_path / "cache").exists()  # nothing written


def test_a_bundle_folder_given_must_exist(tmp_path):
    with pytest.raises(UserError, match=f"^CORE bundle {tmp_path / 'none'} not found"):
        locate_bundle(tmp_path / "none")
    assert locate_bundle(CORE_BUNDLE) == CORE_BUNDLE
