"""The `az` commands of a Markdown guide, and a check of each against the real Azure CLI.

    python3 tests/docs/az_commands.py check AKS_DEPLOYMENT_GUIDE.md .gitlab-ci.yml [--az PATH]

runs `az <group> <command> --help` for every command in the files (a guide's bash blocks and
`inline code`, a pipeline's script lines; `--help` works offline) and checks that each flag
used appears in that help and, where the help lists allowed values, that a literal value is
one of them. It writes what it checked, with the CLI's version, to `az-checked.json` beside
this file. Installing the CLI
(PyPI `azure-cli`, a ~730 MB virtualenv) is too slow for every test run, so the test beside
this file only compares the guide with that record.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

RECORD = Path(__file__).with_name("az-checked.json")
_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
# An az invocation starts a line or follows `$(`, `|`, `;`, `&&`, `do`, `then`.
_START = re.compile(r"(?:^|\$\(|\||;|&&|\{|\bdo\b|\bthen\b|^\s*-)\s*(az\s)", re.MULTILINE)
_INLINE = re.compile(r"`(az [^`]+)`")


def _logical_lines(block: str) -> list[str]:
    return block.replace("\\\n", " ").splitlines()


def _invocation(text: str) -> str:
    """`text` from `az` up to where the shell command ends (a closing `)` at depth 0, `|`, `;`)."""
    depth, quote, end = 0, "", len(text)
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                end = index
                break
            depth -= 1
        elif char in "|;" or text.startswith("&&", index):
            end = index
            break
    return text[:end]


def _sources(text: str, name: str) -> list[str]:
    """The shell text of a file: a guide's bash blocks and inline code, or a pipeline's lines."""
    if name.endswith(".md"):
        return [*_BLOCK.findall(text), *_INLINE.findall(text)]
    return [text]


Invocation = tuple[str, list[str]]  # the command path, and its words after `az`


def invocations(text: str, name: str) -> list[Invocation]:
    """Every `az` invocation in `text` (the contents of the file called `name`)."""
    found = []
    for source in _sources(text, name):
        for line in _logical_lines(source):
            if line.lstrip().startswith("#"):
                continue
            for match in _START.finditer(line):
                words = shlex.split(_invocation(line[match.start(1) :]), comments=True)
                path = []
                for word in words[1:]:
                    if word.startswith("-") or not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                        break
                    path.append(word)
                if path:  # not prose like `az <group> <command> --help`
                    found.append((" ".join(path), words[1 + len(path) :]))
    return found


def commands(text: str, name: str) -> dict[str, list[str]]:
    """Each `az` command path in `text` -> the sorted flags used with it."""
    found: dict[str, set[str]] = {}
    for path, words in invocations(text, name):
        flags = {w.split("=", 1)[0] for w in words if re.match(r"^--?[a-z]", w)}
        found.setdefault(path, set()).update(flags)
    return {path: sorted(flags) for path, flags in sorted(found.items())}


def _allowed(help_text: str, flag: str) -> list[str] | None:
    """The allowed values the help lists for `flag`, if it lists any."""
    match = re.search(
        rf"^\s+{re.escape(flag)}(?:\s+-\w)?\s+(?:\[Required\]\s+)?:(.*?)(?=^\s+-|^\S|\Z)",
        help_text,
        re.MULTILINE | re.DOTALL,
    )
    if match is None:
        return None
    description = " ".join(match.group(1).split())
    allowed = re.search(r"Allowed values: (.*?)\.(?:\s|$)", description)
    return [v.strip() for v in allowed.group(1).split(",")] if allowed else None


def check(files: dict[str, str], az: str) -> tuple[dict[str, list[str]], list[str]]:
    """The commands and a list of problems: unknown commands, flags missing from the help,
    literal values the help does not allow."""
    problems = []
    found: dict[str, set[str]] = {}
    calls: list[Invocation] = []
    for name, text in files.items():
        for path, flags in commands(text, name).items():
            found.setdefault(path, set()).update(flags)
        calls += invocations(text, name)
    helps: dict[str, str] = {}
    for path, used in sorted(found.items()):
        # The Azure CLI with the guide's command path.
        done = subprocess.run(
            [az, *path.split(), "--help"], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            problems.append(f"az {path}: --help failed: {done.stderr.strip()[-300:]}")
            continue
        helps[path] = done.stdout
        for flag in sorted(used):
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", done.stdout):
                problems.append(f"az {path}: {flag} is not in its --help")
    for path, words in calls:
        for flag, value in zip(words, [*words[1:], ""], strict=False):
            if not flag.startswith("-") or not value or value.startswith("-") or "$" in value:
                continue
            allowed = _allowed(helps.get(path, ""), flag)
            # The CLI matches enumerated values case-insensitively.
            if allowed is not None and value.lower() not in {v.lower() for v in allowed}:
                problems.append(f"az {path} {flag} {value}: allowed are {allowed}")
    return {path: sorted(flags) for path, flags in sorted(found.items())}, problems


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "check":
        print(__doc__, file=sys.stderr)
        return 2
    az = argv[argv.index("--az") + 1] if "--az" in argv else "az"
    paths = [a for a in argv[1:] if a != "--az" and a != az]
    found, problems = check({path: Path(path).read_text() for path in paths}, az)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    version = json.loads(
        subprocess.run(
            [az, "version", "--output", "json"], capture_output=True, text=True, check=True
        ).stdout
    )["azure-cli"]
    record = {"azure-cli": version, "files": paths, "commands": found}
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{len(found)} az commands checked against azure-cli {version}; wrote {RECORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
