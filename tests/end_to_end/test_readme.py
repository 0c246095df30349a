"""The documents' commands work typed literally, in a fresh shell, after the README's own set-up lines.

The documents are README.md and every page of docs/ (docs/*.md), read in that order. Each test copies
the repository's tracked files (what a clone of the working tree holds: no ``.venv``, no
``datasets/``) into a temporary folder and runs the documents' ```` ```sh ```` commands there, one by
one, with ``bash -c 'source .venv/bin/activate && COMMAND'`` and an environment of PATH and HOME
only, as a user's new shell would. A command shown in several places (the README's, repeated in a
docs page) is run once, where it first appears.

Installing torch and the other dependencies is what the test does not repeat: the copy's ``.venv``
is a real virtual environment of the running interpreter that sees its installed packages (a path
in a ``.pth`` file), and the copy itself is installed into it with ``pip install .`` (the README's
manual route, without dependencies and offline). ``make`` finds its stamps in place, so ``make demo``
installs nothing. Every ```` ```sh ```` command of the documents is run by a test here, or listed in
NOT_RUN with the reason; the long ones are run by the slow test only.

The documents themselves are checked too: every option of the scripts is in the options table that
documents it (wherever that table now lives), every relative link and image of a document leads to a
file and heading that exist, and the README stays a newcomer's page (at most README_MAX_LINES lines,
linking every page of docs/).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
README_MAX_LINES = 300
SETUP_LINE = "source .venv/bin/activate"
# Commands of the documents that no test runs, and why.
NOT_RUN = {
    "make test": "the test suite that runs this test",
    "python3 -m venv .venv": "set-up: the test makes .venv from the running interpreter instead",
    ".venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu": "set-up: downloads "
    "torch; the test's .venv sees the running environment's packages",
    ".venv/bin/pip install .": "set-up: run by the test offline and without dependencies (--no-deps --no-index)",
    SETUP_LINE: "the set-up line itself, run before every command",
}
# Commands that take minutes: run by the slow test only.
SLOW = {
    "make demo",
    "python train.py -f datasets/data_gauss_dim10.h5 -d 100 -s 0.1 -n 100",
    "python train.py -f datasets/data_gauss_dim10.h5 -w",
    "python train.py -f datasets/data_gauss_dim10.h5 --seed 1 2 3",
    "python -m gaussgan sample runs/gauss_dim10_100_1_wass -n 10000 -o generated.h5 --seed 1",
    "python -m gaussgan sample runs/gauss_dim10_100_1_wass -n 10000 -o samples.npy --seed 2",
    "python -m gaussgan evaluate samples.npy --parent datasets/data_gauss_dim10.h5 --train -o verdict.json",
    "python -m gaussgan evaluate generated.h5 -s gauss",
    "python naive.py --model-path=naive.pt 1000 train",
    "python adversarial.py --model-path=adversarial.pt 1000 train",
    "python adversarial.py --model-path=adversarial.pt 10000 generate > samples.txt",
}


def documents() -> list[Path]:
    """README.md, then every page of docs/, in name order: the order their commands are run in."""
    return [README, *sorted(DOCS.glob("*.md"))]


def commands_of(document: Path) -> list[str]:
    """Every command line of a document's ```sh blocks, in order (comments after '#' removed)."""
    blocks = re.findall(r"^```sh\n(.*?)^```", document.read_text(encoding="utf-8"), flags=re.S | re.M)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def readme_commands() -> list[str]:
    """Every command of every document's ```sh blocks, in document order, each once (where it first appears)."""
    return list(dict.fromkeys(command for document in documents() for command in commands_of(document)))


def clean_copy(destination: Path) -> Path:
    """The repository's tracked files, as they are in the working tree, in ``destination``."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are unknown")
    for name in listed.stdout.decode().split("\0"):
        if name and (REPO / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    return destination


def set_up(clone: Path) -> None:
    """What `make install` does, minus the downloads: .venv with the dependencies, the package installed."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(clone / ".venv")], check=True)
    (site,) = (clone / ".venv/lib").glob("python3*/site-packages")
    (site / "_dependencies_of_the_test_run.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = shell(
        clone, ".venv/bin/python -m pip install --no-deps --no-build-isolation --no-index --quiet .", activate=False
    )
    assert installed.returncode == 0, installed.stderr
    # make's stamps, so that `make demo` finds the installation done.
    assert shell(clone, "make --silent .venv/.torch-requirement", activate=False).returncode == 0
    (clone / ".venv/.installed").touch()


def shell(clone: Path, command: str, activate: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """``command`` in a new bash with only PATH and HOME set, after the README's set-up line."""
    home = clone.parent / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", "-c", f"{SETUP_LINE} && {command}" if activate else command],
        cwd=clone,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_all(clone: Path, commands: list[str]) -> None:
    for command in commands:
        result = shell(clone, command)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        assert "Traceback" not in result.stderr, (command, result.stderr)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    clone = clean_copy(tmp_path_factory.mktemp("readme") / "gaussgan")
    set_up(clone)
    return clone


def document_with_heading(heading: str) -> Path:
    """The one document with a heading line that starts with ``heading``."""
    holders = [
        document
        for document in documents()
        if any(line.startswith(heading) for line in document.read_text(encoding="utf-8").splitlines())
    ]
    assert len(holders) == 1, f"{heading!r} should head a section of exactly one document, not {holders}"
    return holders[0]


def readme_table_options(heading: str) -> set[str]:
    """The options named in the first column of the options table under ``heading``, in whichever document."""
    text = document_with_heading(heading).read_text(encoding="utf-8")
    section = text[text.index("\n" + heading) :]
    table = re.search(r"^\| option \|.*?\n(?:\|.*\n)+", section, flags=re.M)
    assert table, f"no options table under {heading!r}"
    first_column = [line.split(" | ")[0] for line in table.group(0).splitlines()[2:]]
    return {option for cell in first_column for option in re.findall(r"(--?[a-z][a-z0-9-]*)", cell)}


@pytest.mark.parametrize(
    ("script", "heading"), [("train.py", "## train.py: train and diagnose"), ("gen-samples.py", "## gen-samples.py")]
)
def test_every_option_of_the_scripts_is_in_the_readme_table(script, heading):
    spec = importlib.util.spec_from_file_location(script.replace("-", "_").removesuffix(".py"), REPO / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    options = {
        option
        for action in module.build_parser()._actions
        for option in action.option_strings
        if option not in ("-h", "--help")
    }
    document = document_with_heading(heading).relative_to(REPO)
    assert options - readme_table_options(heading) == set(), f"{script}: options missing from the table of {document}"


def test_every_readme_command_is_run_or_said_why_not():
    commands = readme_commands()
    assert SETUP_LINE in commands_of(README), "the README lost its set-up line"
    assert set(NOT_RUN) <= set(commands), (
        f"NOT_RUN lists commands the documents no longer have: {set(NOT_RUN) - set(commands)}"
    )
    assert SLOW <= set(commands), f"SLOW lists commands the documents no longer have: {SLOW - set(commands)}"
    assert commands_of(DOCS / "guide.md"), "docs/guide.md has no ```sh commands: the documents' test found no docs"


def test_the_quick_commands_work_typed_literally(clone):
    """The documents' quick commands (the README's first run by hand, the dataset examples) in a fresh shell."""
    quick = [command for command in readme_commands() if command not in NOT_RUN and command not in SLOW]
    assert len(quick) >= 5, quick
    run_all(clone, quick)
    assert (clone / "generated.csv").read_text().splitlines()[0] == "x0,x1,x2,x3,x4,x5,x6,x7,x8,x9"
    assert (clone / "runs/gauss_dim10_100_1_van/training_details.csv").is_file()


def test_without_activating_the_venv_python_runs_the_scripts(clone):
    """The README's other way: calling .venv/bin/python by its path."""
    for script in ("gen-samples.py", "train.py", "naive.py", "adversarial.py"):
        result = shell(clone, f".venv/bin/python {script} --help", activate=False)
        assert result.returncode == 0 and "usage:" in result.stdout, result.stderr
    result = shell(clone, "cd / && python -m gaussgan sample --help")  # the installed package, from anywhere
    assert result.returncode == 0 and "--epoch" in result.stdout, result.stderr


def make_targets_named(document: Path) -> set[str]:
    targets = set(re.findall(r"`make ([a-z][a-z-]*)`", document.read_text(encoding="utf-8")))
    return targets | {command.split()[1] for command in commands_of(document) if command.startswith("make ")}


def test_every_make_target_the_readme_names_exists(clone):
    readme_targets = make_targets_named(README)
    assert {"demo", "test", "figures", "poc-figure", "lint", "bench", "clean"} <= readme_targets, readme_targets
    targets = set().union(*(make_targets_named(document) for document in documents()))
    for target in sorted(targets):
        result = shell(clone, f"make --dry-run {target}", activate=False)
        assert result.returncode == 0, (target, result.stderr)


def test_make_install_says_what_it_does(clone):
    """A dry run of the installation shows its steps, and pip's progress is not silenced."""
    result = shell(clone, "make --dry-run --always-make install", activate=False)
    assert result.returncode == 0, result.stderr
    for step in ("1/3 creating the virtual environment", "2/3 installing torch==2.13.0", "3/3 installing gaussgan"):
        assert step in result.stdout, result.stdout
    assert "--quiet" not in result.stdout and "--extra-index-url https://download.pytorch.org/whl/cpu" in result.stdout


@pytest.mark.slow
def test_every_readme_command_works_typed_literally(tmp_path):
    """All of them, in document order (README first), in one fresh copy: minutes (two full training runs)."""
    clone = clean_copy(tmp_path / "gaussgan")
    set_up(clone)
    run_all(clone, [command for command in readme_commands() if command not in NOT_RUN])
    assert len((clone / "samples.txt").read_text().splitlines()) == 10_000
    assert os.path.isfile(clone / "generated.h5")


def outside_code(text: str, inline: bool = True) -> str:
    """``text`` without its fenced code blocks, and without its inline code spans unless ``inline`` is false."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text) if inline else text


def anchors(document: Path) -> set[str]:
    """GitHub's anchors for a document's headings: lower case, punctuation dropped, spaces to '-'."""
    seen: dict[str, int] = {}
    for line in outside_code(document.read_text(encoding="utf-8"), inline=False).splitlines():
        if re.match(r"#{1,6} ", line):
            slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            seen[slug] = seen.get(slug, -1) + 1
            if seen[slug]:
                seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def test_every_link_and_image_of_the_documents_leads_somewhere():
    """Relative links and images (README: docs/images/..., docs pages: images/...) name files and headings that exist."""
    broken = []
    for document in documents():
        text = outside_code(document.read_text(encoding="utf-8"))
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not followed
            path, _, anchor = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            if not linked.is_file() or not linked.is_relative_to(REPO):
                broken.append(f"{document.name}: {target} (no such file)")
            elif anchor and anchor not in anchors(linked):
                broken.append(f"{document.name}: {target} (no such heading)")
    assert broken == [], broken


def test_the_readme_is_a_newcomers_page():
    """At most README_MAX_LINES lines, one picture, and a link to every page of docs/."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES, "the README grew: move the details into docs/"
    assert len(re.findall(r"!\[[^\]]*\]\(", outside_code(text))) == 1, "the README shows one picture"
    unlinked = [page.name for page in sorted(DOCS.glob("*.md")) if f"](docs/{page.name}" not in text]
    assert unlinked == [], f"pages of docs/ the README does not link: {unlinked}"


# --- every file a command reads, an earlier command of the same document wrote ------------------------------

DATA_FILE = re.compile(r"\.(npy|csv|h5)$")
OUT_FLAGS = ("-o", "--out")


def command_lines(document: Path) -> list[str]:
    """The ``python ...`` command lines of every fenced block of a document, in order (comments removed)."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", document.read_text(encoding="utf-8"), flags=re.S | re.M)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if re.match(r"(\.venv/bin/)?python3? ", line)]


def data_files(command: str) -> tuple[set[str], set[str]]:
    """The .npy, .csv and .h5 files a command line reads, and those it writes."""
    import shlex

    words = shlex.split(command)
    if "-h" in words or "--help" in words:
        return set(), set()
    if words[1:2] == ["gen-samples.py"]:  # its outputs are named by its options: ask its own parser
        spec = importlib.util.spec_from_file_location("gen_samples", REPO / "gen-samples.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        options = module.parse_args(words[2:])
        written = {f"{options.out_dir}/data_{options.dist}_dim{dim}{options.postfix}.h5" for dim in options.dims}
        return set(), {os.path.normpath(path) for path in written}
    reads, writes = set(), set()
    for before, word in zip(["", *words], words, strict=False):
        word = word.split("=", 1)[1] if word.startswith("--") and "=" in word else word
        if not DATA_FILE.search(word):
            continue
        (writes if before in (*OUT_FLAGS, ">", ">>") else reads).add(os.path.normpath(word))
    if words[1:4] == ["-m", "gaussgan", "sample"] and not any(word in OUT_FLAGS for word in words):
        writes.add("generated.h5")  # sample's default output
    return reads, writes


def test_data_files_reads_and_writes_of_a_command_line():
    """The checker below reads command lines as the commands do."""
    assert data_files("python gen-samples.py -n 1000 -s cauchy -b 10 -d 1 10 -p _x") == (
        set(),
        {"datasets/data_cauchy_dim1_x.h5", "datasets/data_cauchy_dim10_x.h5"},
    )
    assert data_files("python -m gaussgan sample runs/r -n 10 -o samples.npy --seed 1") == (set(), {"samples.npy"})
    assert data_files("python -m gaussgan sample runs/r") == (set(), {"generated.h5"})
    assert data_files("python -m gaussgan evaluate samples.csv --parent datasets/d.h5 -o verdict.json") == (
        {"samples.csv", "datasets/d.h5"},
        set(),
    )


@pytest.mark.parametrize("document", documents(), ids=lambda document: document.name)
def test_every_data_file_a_command_reads_was_written_by_an_earlier_command(document):
    """Pasted in order, a document's commands (README.md, each page of docs/ on its own) never name a
    .npy, .csv or .h5 file that no earlier command of that document wrote."""
    written: set[str] = set()
    unwritten = []
    for command in command_lines(document):
        reads, writes = data_files(command)
        unwritten += [f"{command}: {path}" for path in sorted(reads - written)]
        written |= writes
    assert unwritten == [], f"{document.name}: files no earlier command writes: {unwritten}"


def test_make_demo_ends_pointing_at_its_runs_page_and_verdict():
    """The demo's last lines name what to look at first: the run on one page, its verdict and metrics."""
    from gaussgan.gan.rundir import run_name

    recipe = (REPO / "Makefile").read_text(encoding="utf-8").split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    train = next(line for line in recipe.splitlines() if "train.py" in line)
    assert "-f datasets/data_gauss_dim10.h5" in train and "-p demo" in train and " -w" not in train
    run = f"runs/{run_name('gauss', 10, 100, 1.0, 'vanilla', 'demo')}"
    echoed = [line.split("@echo", 1)[1] for line in recipe.splitlines() if "@echo" in line]
    assert f"{run}/index.html" in echoed[-1], echoed
    assert any(f"{run}/verdict.json" in line for line in echoed) and any(
        "training_metrics.png" in line for line in echoed
    )
