"""The shape of the package: stage folders, the direction of imports, the ledger owning its SQL.

These read the source (``ast``) rather than run it, so that the rules in ARCHITECTURE hold by
construction: a stage never imports a later one, the ledger and the FHIR mapping never import
scanning code, no import cycle, no module grows past ~400 lines, every SQL statement lives
under ``ledger/`` and names its columns, and ``_name`` means private to one file.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "downtime"
SHARED = {"errors", "model", "vocab", "settings", "geometry", "files", "bundled", "words"}
STAGES = (
    "census", "forms", "codes", "pack", "ward", "scan", "ledger", "record", "report", "review",
    "simulate", "app", "station", "cli",
)  # fmt: skip
# What each stage may import besides the shared root modules and itself. The ledger is the
# kit's storage: every stage that records or reads facts uses it, and it uses no stage.
ALLOWED = {
    "census": set(),
    "forms": set(),
    "codes": set(),
    "ledger": set(),
    "pack": {"census", "forms", "codes", "ledger"},
    # Ward stations keep checked packs (their manifests as the pack stage writes them) and
    # print them; their prints are recorded in the ledger.
    "ward": {"codes", "ledger", "pack"},
    "scan": {"forms", "codes", "ledger"},
    "record": {"census", "ledger"},
    "report": {"ledger"},
    "review": {"census", "ledger", "record"},
    "app": set(STAGES) - {"simulate", "app", "station", "cli"},
    "simulate": set(STAGES) - {"simulate", "station", "cli"},
    # The review station is a front end like the CLI: data and decisions come from the
    # library (app, review); from the ledger only its dataclasses, words and audit events.
    "station": {"app", "ledger", "review"},
    "cli": set(STAGES) - {"cli"},
    "__main__": {"cli"},  # `python -m downtime`: the command, nothing else
}
MAX_LINES = 400
SQL = re.compile(
    r"^\s*(SELECT\s|INSERT\s|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|CREATE\s+(TABLE|INDEX)\b)"
)
UNNAMED_INSERT = re.compile(r"INSERT\s+(OR\s+\w+\s+)?INTO\s+\w+\s+(VALUES|SELECT)\b", re.I)


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = modules()


def imports(path: Path) -> Iterator[tuple[str, str, int]]:
    """(imported module, imported name or '', line) for every import in the file, wherever it
    stands (module level, in a function, under TYPE_CHECKING)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name, node.lineno


def targets(path: Path) -> Iterator[tuple[str, int]]:
    """The downtime modules a file imports (``from pkg import submodule`` is the submodule)."""
    for module, name, line in imports(path):
        if not module.startswith("downtime"):
            continue
        submodule = f"{module}.{name}"
        yield (submodule if submodule in MODULES else module), line


def stage_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_package_root_holds_only_the_stages_and_what_every_stage_shares() -> None:
    found = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert found <= SHARED, found - SHARED
    assert folders == set(STAGES)
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
        assert doc, f"{stage}/__init__.py says in a line what the stage does"


def text(path: Path) -> str:
    return path.read_text("utf-8", errors="replace") if path.suffix == ".toml" else ""


def test_the_repository_top_level_is_the_package_the_forms_the_tests_and_the_examples() -> None:
    """What a hospital edits and reviews (the forms) and what a new user runs (the examples) are
    top-level folders; the package holds code (and fonts, templates and the station's files)."""
    root = PACKAGE.parent
    for name in ("pyproject.toml", "README.md", "downtime", "forms", "tests", "examples"):
        assert (root / name).exists(), name
    assert sorted(p.stem for p in (root / "forms").glob("*.toml"))
    inside = [
        str(p.relative_to(root))
        for p in PACKAGE.rglob("*")
        if p.suffix in (".csv", ".json") or p.name == "labels.toml" or "downtime.form/" in text(p)
    ]
    assert not inside, f"forms and example censuses belong in forms/ and examples/: {inside}"


def test_a_stage_imports_only_what_it_may_and_shared_modules_import_no_stage() -> None:
    wrong = []
    for name, path in MODULES.items():
        stage = stage_of(name)
        for target, line in targets(path):
            other = stage_of(target)
            if other in ("", stage) or other in SHARED:
                continue
            allowed = ALLOWED.get(stage, set())  # a shared module: none
            if other not in allowed:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_there_is_no_import_cycle() -> None:
    graph = {name: {t for t, _ in targets(path) if t in MODULES} for name, path in MODULES.items()}
    edges = graph
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if nxt.startswith(node + "."):
                continue  # a package importing its own submodule
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert not cycles, "\n".join(cycles)


def test_no_module_is_longer_than_about_a_screenful_of_screens() -> None:
    long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in MODULES.values()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long


def strings(path: Path) -> Iterator[tuple[str, int]]:
    """Every string constant of a file, f-string parts joined (SQL is often built that way)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value, node.lineno
        elif isinstance(node, ast.JoinedStr):
            parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
            yield "".join(str(p) for p in parts), node.lineno


def test_every_sql_statement_lives_under_ledger() -> None:
    outside = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for name, path in MODULES.items()
        if stage_of(name) != "ledger"
        for text, line in strings(path)
        if SQL.match(text)
    ]
    assert not outside


def test_only_the_ledger_runs_queries_or_transactions() -> None:
    calls = re.compile(r"\b(ledger|conn|cursor)\.(query|transaction|execute|executemany)\(")
    outside = [
        f"{path.relative_to(PACKAGE.parent)}:{n}"
        for name, path in MODULES.items()
        if stage_of(name) != "ledger"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if calls.search(line)
    ]
    assert not outside


def test_the_ledgers_connection_is_its_own() -> None:
    """Other stages get a ``Ledger`` from ``downtime.ledger`` and call named functions; the
    statement runner (``ledger.db.rows``) and the connection stay inside the package."""
    outside = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for name, path in MODULES.items()
        if stage_of(name) != "ledger"
        for target, line in targets(path)
        if target == "downtime.ledger.db"
    ]
    assert not outside


def test_every_insert_names_its_columns() -> None:
    unnamed = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in MODULES.values()
        for text, line in strings(path)
        if UNNAMED_INSERT.search(" ".join(text.split()))
    ]
    assert not unnamed


def test_an_underscored_name_is_private_to_its_file() -> None:
    dunder = {"__init__", "__main__"}
    private_files = [p for p in MODULES.values() if p.stem.startswith("_") and p.stem not in dunder]
    crossing = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name} from {module}"
        for path in MODULES.values()
        for module, name, line in imports(path)
        if module.startswith("downtime") and name.startswith("_") and name != "__version__"
    ]
    assert not private_files
    assert not crossing


@pytest.mark.parametrize(
    "module",
    [
        "downtime.record",
        "downtime.record.fhir",
        "downtime.record.reconciliation",
        "downtime.report",
    ],
)
def test_the_record_side_does_not_load_the_image_stack(module: str) -> None:
    probe = (
        f"import sys, {module}; heavy = sorted(m for m in ('cv2', 'pyzbar', 'zxingcpp') "
        "if m in sys.modules); print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""
