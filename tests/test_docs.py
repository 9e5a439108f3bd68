"""
The documentation names only what exists. In README.md, docs/*.md and the root commands' docstrings:

- a path under configs/, gptkit/, tests/ or docs/, and a script's bare name (`train.py`, `demo.py`,
  `losses.py`), is a file of the repository;
- each flag of a command (`python X.py ...`, `torchrun ... X.py ...`, a usage line `X.py ...`), in a code block
  or an inline code span, is an option of that command: one its argparse `add_argument` calls declare (read
  with ast, with those of the gptkit modules it imports), and for train.py and bench.py a field of GPTConfig or
  TrainConfig; `--foo-bar` and `--foo_bar` are the same flag;
- a flag named on its own (`--init_from=resume` in a sentence) is an option of some command;
- `make X` is a target of the Makefile;
- a relative link `[text](path#anchor)` points to a file that exists and, in a Markdown file, to one of its
  headings.

And the pages cover what exists:

- README's "Where things live" tree names only files and folders that exist, every root command, and every
  folder of gptkit/ that holds a module: a module in a new folder fails until the tree names that folder;
- docs/configuration.md names every field of GPTConfig and TrainConfig and every file in configs/, and a
  configuration table (README's or that page's) names only fields.
"""

import ast
import re
from dataclasses import fields
from functools import cache
from pathlib import Path

import pytest

from conftest import ROOT
from gptkit.config import TrainConfig
from gptkit.model_parts.depth_dial import DepthDial
from model import GPTConfig

SETTINGS_COMMANDS = {"train.py", "bench.py", "study.py"}  # they take --key=value settings besides their flags
PLACEHOLDER_FLAGS = {"--key"}  # a synopsis' [--key=value ...]
INVENTED = {"configs/x.py", "--n_layrs"}  # what the pages invent to show an error: no file, no flag of ours
OTHER_PROJECTS = {"convert_hf_to_gguf.py"}  # llama.cpp's converter, which check_runtimes.py runs
LAUNCHERS = {"python", "python3", "torchrun", "bash", "sh"}

FENCE = re.compile(r"^\s*```")
REPO_PATH = re.compile(r"(?<![\w./-])((?:configs|gptkit|tests|docs)/[\w./-]*)(?![\w<*{])")
SCRIPT_NAME = re.compile(r"(?<![\w./-])([\w-]+\.(?:py|sh))\b")
FLAG = re.compile(r"(?:^|(?<=[\s\[(]))(--?[A-Za-z][\w-]*)")
SPAN = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$", re.M)


def documents():
    """(name, text, is_markdown) of README.md, every docs page and every root command's module docstring."""
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        yield page.relative_to(ROOT).as_posix(), page.read_text(), True
    for script in sorted(ROOT.glob("*.py")):
        docstring = ast.get_docstring(ast.parse(script.read_text()))
        if docstring:
            yield script.name, docstring, False


def split_code(text, is_markdown):
    """([(line number, command line)], prose): the lines of shell (fenced blocks in Markdown, indented lines in
    a docstring), a line ending in a backslash joined with the next, and the text with those lines blanked."""
    code, prose, in_fence = [], [], False
    for number, line in enumerate(text.splitlines(), 1):
        fence = is_markdown and FENCE.match(line)
        in_fence = in_fence != bool(fence)
        is_code = not fence and (in_fence if is_markdown else line.startswith("    "))
        if is_code and code and code[-1][1].endswith("\\"):
            code[-1] = (code[-1][0], code[-1][1][:-1] + " " + line)
        elif is_code:
            code.append((number, line))
        prose.append("" if is_code or fence else line)
    return code, "\n".join(prose)


def spelling(flag):
    """One spelling of a flag: underscores for the hyphens after the leading ones."""
    name = flag.lstrip("-")
    return flag[: len(flag) - len(name)] + name.replace("-", "_")


def gptkit_files(path):
    """The files of the gptkit modules that path imports, directly or through one another."""
    found, todo = set(), [path]
    while todo:
        for node in ast.walk(ast.parse(todo.pop().read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in (n for n in names if n.split(".")[0] == "gptkit"):
                module = ROOT / name.replace(".", "/")
                for file in (module.with_suffix(".py"), module / "__init__.py"):
                    if file.is_file() and file not in found:
                        found.add(file)
                        todo.append(file)
    return found


@cache
def options(script):
    """The flags a Python command accepts, in one spelling."""
    path = ROOT / script
    flags = {"--help", "-h"}
    for file in [path, *gptkit_files(path)]:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
                flags |= {a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("-")}
    if path.name in SETTINGS_COMMANDS:  # and the depth dial's keys, which the config loader reads with them
        flags |= {f"--{field.name}" for config in (GPTConfig, TrainConfig, DepthDial) for field in fields(config)}
    return {spelling(flag) for flag in flags}


@cache
def any_command_options():
    return set().union(*(options(script.name) for script in ROOT.glob("*.py")))


@cache
def repository_names():
    """The names of the files a bare script name may mean: at the root, in configs/, gptkit/ and tests/."""
    files = [*ROOT.glob("*"), *(ROOT / "configs").glob("*"), *(ROOT / "gptkit").rglob("*")]
    return {file.name for file in files + list((ROOT / "tests").rglob("*")) if file.is_file()}


@cache
def make_targets():
    return set(re.findall(r"^([\w.-]+)\s*:(?!=)", (ROOT / "Makefile").read_text(), re.M))


def command_of(words):
    """(script, the words after it) that a command line runs, or None where it runs no script of ours: the
    script follows python, bash or torchrun (and the launcher's own options), or starts a usage line."""
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # environment settings before the command
        words = words[1:]
    if words and (words[0] in LAUNCHERS or words[0].endswith("/python")):
        words = words[1:]
        while words and words[0].startswith("-"):
            words = words[1:]
    if words and re.fullmatch(r"[\w./-]+\.(?:py|sh)", words[0]):
        return words[0], words[1:]
    return None


def command_problems(line):
    """What a line of shell names that does not exist: flags its commands lack, make targets the Makefile lacks."""
    line = re.sub(r"(^|\s)#.*$", "", re.sub(r'"[^"]*"', '""', line))  # quoted text and comments are no flags
    problems = []
    for segment in re.split(r"&&|\|\||;|\s\|\s", line):
        words = segment.split()
        if words[:1] == ["make"]:
            targets = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
            problems += [f"make has no target {t!r}" for t in targets if t not in make_targets()]
            continue
        command = command_of(words)
        if command is None or not command[0].endswith(".py") or not (ROOT / command[0]).is_file():
            continue  # another program, a shell script (its flags are its own), or a missing file (named below)
        script, rest = command
        flags = set(FLAG.findall(" ".join(rest))) - PLACEHOLDER_FLAGS - INVENTED
        problems += [f"{script} has no flag {flag}" for flag in sorted(flags) if spelling(flag) not in options(script)]
    return problems


def span_problems(span):
    """An inline code span: a command (as a line of shell), or flags named on their own."""
    if span.startswith("--"):
        flags = set(FLAG.findall(span)) - PLACEHOLDER_FLAGS - INVENTED
        unknown = [flag for flag in sorted(flags) if spelling(flag) not in any_command_options()]
        return [f"no command has the flag {flag}" for flag in unknown]
    return command_problems(span)


def file_problems(text):
    """(name, problem) for each path into the repository and bare script name that is no file of it (names in
    capitals are placeholders: CONFIG.py; OTHER_PROJECTS are other projects' scripts)."""
    paths = {p.rstrip(".") for p in REPO_PATH.findall(text)} - INVENTED
    names = {n for n in SCRIPT_NAME.findall(text) if n.split(".")[0] != n.split(".")[0].upper()} - OTHER_PROJECTS
    return [(p, f"{p} does not exist") for p in sorted(paths) if not (ROOT / p).exists()] + [
        (n, f"{n} is no file of the repository") for n in sorted(names) if n not in repository_names()
    ]


def anchors(markdown):
    """The anchors GitHub gives a Markdown text's headings: lower case, punctuation dropped, spaces turned to
    hyphens, a repeated heading numbered."""
    seen = {}
    for heading in HEADING.findall(split_code(markdown, True)[1]):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        yield slug if seen[slug] == 0 else f"{slug}-{seen[slug]}"


def link_problems(name, text, prose):
    """(target, problem) for each relative link to a file that does not exist or to a heading its Markdown file
    lacks."""
    problems = []
    for target in LINK.findall(prose):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (ROOT / name).parent / file
        if file and not path.exists():
            problems.append((target, f"link to {target}: no such file"))
        elif anchor and (not file or path.suffix == ".md"):
            if anchor not in set(anchors(path.read_text() if file else text)):
                problems.append((target, f"link to {target}: no such heading"))
    return problems


def problems(name, text, is_markdown):
    """Everything the text names that does not exist, as 'name:line: what' (the line of the first mention)."""
    code, prose = split_code(text, is_markdown)
    found = [(number, problem) for number, line in code for problem in command_problems(line)]
    for match in SPAN.finditer(prose):
        number = prose.count("\n", 0, match.start()) + 1
        found += [(number, problem) for problem in span_problems(match.group(1).replace("\n", " "))]
    lines = text.splitlines()
    for mention, problem in file_problems(text) + link_problems(name, text, prose):
        found.append((next((i for i, line in enumerate(lines, 1) if mention in line), 0), problem))
    return [f"{name}:{number}: {problem}" for number, problem in sorted(found)]


DOCUMENTS = list(documents())


@pytest.mark.parametrize("name, text, is_markdown", DOCUMENTS, ids=[name for name, _, _ in DOCUMENTS])
def test_the_documentation_names_only_what_exists(name, text, is_markdown):
    found = problems(name, text, is_markdown)
    assert not found, "\n".join(found)


def test_readme_links_every_docs_page():
    linked = {Path(target.split("#")[0]).name for target in LINK.findall((ROOT / "README.md").read_text())}
    assert {page.name for page in (ROOT / "docs").glob("*.md")} <= linked


def test_the_check_finds_each_kind_of_stale_name():
    made_up = """# Made up

A link to [a page](nope.md), to [a heading](#no-such-heading), to [this page](#made-up) and
[another page's heading](fsdp.md#the-memory-plan). `python sample.py --checkpoint x --temprature 0.7` and
`--n_layerz=2`, `--init_from=resume`, then `make nothing` and `make test TORCH=torch==2.13.0`.

```bash
python train.py configs/gpt3.py --n_layer=2 --n_layerz=2   # --comment is no flag
torchrun --standalone --nproc_per_node=2 bench.py configs/demo.py --stepz=3 --steps 3
bash configs/no_study.sh --anything
python export_hf.py a b --dtype float32 --push-to-hub x --prompt "--in quotes"
```
"""
    assert problems("docs/made_up.md", made_up, is_markdown=True) == [
        "docs/made_up.md:3: link to #no-such-heading: no such heading",
        "docs/made_up.md:3: link to nope.md: no such file",
        "docs/made_up.md:4: sample.py has no flag --temprature",
        "docs/made_up.md:5: make has no target 'nothing'",
        "docs/made_up.md:5: no command has the flag --n_layerz",
        "docs/made_up.md:8: configs/gpt3.py does not exist",
        "docs/made_up.md:8: train.py has no flag --n_layerz",
        "docs/made_up.md:9: bench.py has no flag --stepz",
        "docs/made_up.md:10: configs/no_study.sh does not exist",
        "docs/made_up.md:11: export_hf.py has no flag --prompt",
    ]


def test_the_check_reads_a_docstrings_indented_lines_as_commands():
    docstring = """Train.

    python trian.py configs/demo.py
    python model.py configs/demo.py --gpus 8 --gpu_memory 8 --gpu-count 8

In a sentence, `python sample.py --nope` too."""
    assert problems("x.py", docstring, is_markdown=False) == [
        "x.py:3: trian.py is no file of the repository",
        "x.py:4: model.py has no flag --gpu-count",
        "x.py:6: sample.py has no flag --nope",
    ]


TREE_LINE = re.compile(r"(?P<indent>(?:│   |    )*)[├└]── (?P<name>[^\s#]+)")


def tree_block(readme):
    """The fenced block under README's "Where things live" heading."""
    section = readme.split("\n## Where things live", 1)[1]
    return re.search(r"^```\w*\n(.*?)^```", section, re.M | re.S).group(1)


def tree_paths(block):
    """The paths an annotated file tree names, relative to its root (the first line), folders ending in '/'."""
    paths, parents = [], []
    for line in block.splitlines()[1:]:
        match = TREE_LINE.match(line)
        assert match, f"not a line of the tree: {line!r}"
        depth = len(match["indent"]) // 4
        assert depth <= len(parents), f"{line!r} is deeper than the folder above it"
        parents[depth:] = [match["name"]]
        paths.append("".join(parents))
    return paths


def tree_problems(paths):
    """What a tree misses or invents: a name that matches no file or folder (a name may be a glob:
    requirements*.txt), a root command it leaves out, a gptkit module in a folder it does not name."""
    problems = [f"{path} does not exist" for path in paths if not any(ROOT.glob(path.rstrip("/")))]
    named = {Path(path).name for path in paths if "/" not in path.rstrip("/")}
    commands = [*ROOT.glob("*.py"), *ROOT.glob("*.sh")]
    problems += [
        f"the root command {file.name} is not in the tree" for file in sorted(commands) if file.name not in named
    ]
    folders = {path for path in paths if path.endswith("/")}
    for module in sorted((ROOT / "gptkit").rglob("*.py")):
        folder = module.parent.relative_to(ROOT).as_posix() + "/"
        if folder not in folders:
            problems.append(f"{module.relative_to(ROOT).as_posix()} sits in {folder}, which the tree does not name")
    return problems


def test_readmes_tree_names_what_exists_and_every_folder_of_gptkit():
    problems = tree_problems(tree_paths(tree_block((ROOT / "README.md").read_text())))
    assert not problems, "\n".join(problems)


def test_the_tree_check_finds_a_module_outside_the_folders_it_names():
    made_up = """.
├── train.py                # a comment
├── requirements*.txt
└── gptkit/
    ├── errors.py
    └── data/
        └── tokenizers.py   # no such module
"""
    paths = tree_paths(made_up)
    assert paths == [
        "train.py",
        "requirements*.txt",
        "gptkit/",
        "gptkit/errors.py",
        "gptkit/data/",
        "gptkit/data/tokenizers.py",
    ]
    problems = tree_problems(paths)
    assert problems[0] == "gptkit/data/tokenizers.py does not exist"
    assert "the root command model.py is not in the tree" in problems
    assert "gptkit/training/optim.py sits in gptkit/training/, which the tree does not name" in problems
    assert not any("gptkit/data/shards.py" in problem for problem in problems)


def table_keys(markdown, first_header):
    """The names in backticks in the first column of the Markdown tables whose first header cell is first_header."""
    keys, in_table = set(), False
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if cells and cells[0] == first_header:
            in_table = True
        elif not cells:
            in_table = False
        elif in_table:
            keys |= set(re.findall(r"`([^`]+)`", cells[0]))
    return keys


SETTINGS = {field.name for config in (GPTConfig, TrainConfig, DepthDial) for field in fields(config)}
CONFIGURATION = ROOT / "docs" / "configuration.md"


def test_the_configuration_page_names_every_setting_and_every_config_file():
    page = CONFIGURATION.read_text()
    config_files = {name for cell in table_keys(page, "config") for name in re.findall(r"\w+\.py", cell)}
    configs = {path.name for path in (ROOT / "configs").glob("*.py")}
    missing = (SETTINGS - table_keys(page, "key")) | (configs - config_files)
    assert not missing, f"docs/configuration.md does not name {sorted(missing)}"


@pytest.mark.parametrize("page", [ROOT / "README.md", CONFIGURATION], ids=lambda page: page.name)
def test_a_configuration_table_names_only_settings(page):
    keys = table_keys(page.read_text(), "key")
    assert keys and keys - SETTINGS == set()
