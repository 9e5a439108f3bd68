"""
Examples kept one JSON object a line: HellaSwag's file and the CORE bundle's task files.

The invariant its tests check: every line that is not a usable example is one UserError naming file and line,
and so is a file without examples; blank lines are skipped.
"""

import json

from gptkit.errors import UserError


def read_example_lines(path, kind, problem_of):
    """The examples of the JSON-lines file path. problem_of(example) says what makes one unusable (an empty
    string if nothing does); kind names what an example is, for the errors ("HellaSwag")."""
    examples = []
    with open(path, encoding="utf-8", errors="replace") as f:  # a stray byte is the example's problem, not ours
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{number}: not a JSON line ({e.msg})") from None
            problem = problem_of(example)
            if problem:
                raise UserError(f"{path}:{number}: not a {kind} example ({problem})")
            examples.append(example)
    if not examples:
        raise UserError(f"{path} holds no {kind} examples")
    return examples
