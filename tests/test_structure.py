"""The package's structure, read from its source: every module imports only modules of its own or an earlier lesson (so
there is no import cycle), the package's entry point imports later modules only where it must, and no block of six or
more lines is written twice."""
import ast
import importlib.util
import re
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(importlib.util.find_spec("ddim_nb").submodule_search_locations[0])
# `__init__` (notebook 00_backend) is the package's entry point: it imports the light CPU module of the appendix (08a)
# when the package is imported, before JAX starts, and the run folders (00_runs) and the command layer (11) only inside
# the console scripts, after their restart. Every other import goes from a later lesson to an earlier one.
ENTRY_POINT_IMPORTS = {"module level": {"cpu"}, "inside functions": {"runs", "cli"}}


def modules():
    "Each generated module's name and the notebook it is exported from (nbdev's header names it)."
    found = {}
    for path in sorted(PACKAGE.glob("*.py")):
        header = re.search(r"File to edit: \.\./nbs/(\S+)\.ipynb", path.read_text())
        if header: found[path.stem] = header.group(1)
    return found


def package_imports(path):
    "(imported module, at module level?) for every import of a ddim_nb module in the file at `path`."
    tree, found = ast.parse(path.read_text()), []
    top_level = {id(node) for node in tree.body}
    known = {module.stem for module in PACKAGE.glob("*.py")}
    for node in ast.walk(tree):
        at_top = id(node) in top_level
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module: found.append((node.module.split(".")[0], at_top))
            elif node.level == 1: found += [(alias.name if alias.name in known else "__init__", at_top) for alias in node.names]
            elif node.module and node.module.split(".")[0] == "ddim_nb":
                parts = node.module.split(".")
                if len(parts) > 1: found.append((parts[1], at_top))
                else: found += [(alias.name if alias.name in known else "__init__", at_top) for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "ddim_nb": found.append((parts[1] if len(parts) > 1 else "__init__", at_top))
    return found


def test_every_module_is_found():
    lessons = modules()
    assert {"__init__", "config", "runs", "diffusion", "training", "samplers", "inversion", "cli"} <= set(lessons), lessons
    assert lessons["cli"] > lessons["guidance"] > lessons["training"] > lessons["runs"] > lessons["__init__"]


def test_no_module_imports_a_later_lesson():
    lessons, later = modules(), []
    for module, lesson in lessons.items():
        if module == "__init__": continue
        for imported, _ in package_imports(PACKAGE / f"{module}.py"):
            if imported == module: continue
            assert imported in lessons, f"{module} imports {imported}, which is not a module of the package"
            if lessons[imported] > lesson: later.append(f"{module} ({lesson}) imports {imported} ({lessons[imported]})")
    assert not later, "imports of a later lesson's module:\n" + "\n".join(later)


def test_the_entry_point_imports_only_what_it_must():
    imports = package_imports(PACKAGE / "__init__.py")
    test_level = {imported for imported, at_top in imports if at_top}
    inside = {imported for imported, at_top in imports if not at_top}
    assert test_level == ENTRY_POINT_IMPORTS["module level"], test_level
    assert inside == ENTRY_POINT_IMPORTS["inside functions"], inside


def test_no_import_cycle():
    graph = {module: {imported for imported, at_top in package_imports(PACKAGE / f"{module}.py") if at_top} - {module}
             for module in modules()}
    state = {}
    def visit(module, path):
        if state.get(module) == "done": return
        assert state.get(module) != "open", "import cycle: " + " -> ".join(path + [module])
        state[module] = "open"
        for imported in sorted(graph.get(module, ())): visit(imported, path + [module])
        state[module] = "done"
    for module in sorted(graph): visit(module, [])


def code_lines(text):
    "The lines of Python source that carry code, stripped: no blank lines, comments, imports, or lone brackets."
    kept = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if (not stripped or stripped.startswith("#") or re.match(r"(import|from)\s", stripped)
                or re.fullmatch(r"[\)\]\}\(\[\{,:;]+", stripped)): continue
        kept.append((number, " ".join(stripped.split())))
    return kept


def repeated_blocks(files, size=6):
    "Blocks of `size` code lines that stand in two places or more: {block: [(file, first line), ...]}."
    places = defaultdict(list)
    for path in files:
        lines = code_lines(path.read_text())
        for start in range(len(lines) - size + 1):
            places["\n".join(text for _, text in lines[start:start + size])].append((path.name, lines[start][0]))
    return {block: where for block, where in places.items() if len(where) > 1}


def test_the_duplicate_finder_finds_a_copy(tmp_path):
    body = "\n".join(f"    total = total + {index}" for index in range(7))
    (tmp_path / "a.py").write_text(f"def first(total):\n{body}\n    return total\n")
    (tmp_path / "b.py").write_text(f"def second(total):\n    # the same lines again\n{body}\n    return total\n")
    found = repeated_blocks([tmp_path / "a.py", tmp_path / "b.py"])
    assert found and all({name for name, _ in where} == {"a.py", "b.py"} for where in found.values())
    (tmp_path / "b.py").write_text("def second(total):\n    return total * 2\n")
    assert not repeated_blocks([tmp_path / "a.py", tmp_path / "b.py"])


def test_no_block_of_six_lines_is_written_twice():
    files = [path for path in sorted(PACKAGE.glob("*.py")) if path.name != "_modidx.py"]  # nbdev's index is generated
    found = repeated_blocks(files)
    assert not found, "blocks written twice:\n" + "\n\n".join(
        f"{', '.join(f'{name}:{line}' for name, line in where)}\n{block}" for block, where in found.items())
