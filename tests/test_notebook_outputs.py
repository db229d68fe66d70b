"""The notebooks carry the outputs of their fast path (`python tools/docs.py refresh`): every cell that draws a figure
has its image stored, and every cell that prints has its printed text stored, so GitHub, nbviewer and JupyterLab show
the lessons' figures and numbers without running them."""
import importlib.util, json, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("ddim_nb_docs_tool", ROOT / "tools" / "docs.py")
docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs)


def test_every_drawing_cell_has_its_figure():
    missing = docs.cells_missing_figures(docs.notebooks(), ROOT / "ddim_nb")
    assert not missing, ("cells that draw a figure but have no image stored (run `python tools/docs.py refresh`):\n"
                         + "\n".join(f"{name}, cell {number}: {line}" for name, number, line in missing))


def test_every_printing_cell_has_its_output():
    missing = docs.cells_missing_prints(docs.notebooks())
    assert not missing, ("cells that print but have no printed output stored (run `python tools/docs.py refresh`):\n"
                         + "\n".join(f"{name}, cell {number}: {line}" for name, number, line in missing))


def test_figures_fit_the_website():
    wide = docs.wide_figures(docs.notebooks())
    assert not wide, (f"figures wider than {docs.FIGURE_MAX_WIDTH} px shrink on the website (make their figsize narrower):\n"
                      + "\n".join(f"{name}, cell {number}: {width} px" for name, number, width in wide))


def test_notebooks_stay_small():
    sizes = {path.name: path.stat().st_size for path in docs.notebooks()}
    assert sum(sizes.values()) < 15e6, f"notebooks together {sum(sizes.values()) / 1e6:.1f} MB: {sizes}"


def _notebook(path, *cells):
    "A notebook file of code cells given as (source, outputs)."
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{index}", "metadata": {},
                                           "outputs": outputs, "source": source} for index, (source, outputs) in enumerate(cells)],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


IMAGE = [{"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo=\n", "text/plain": ["<Figure>"]}}]
TEXT = [{"output_type": "stream", "name": "stdout", "text": ["3\n"]}]


def test_detector_finds_drawing_cells_without_images(tmp_path):
    path = _notebook(tmp_path / "example.ipynb",
                     ("import matplotlib.pyplot as plt", []),
                     ("fig, ax = plt.subplots()\nax.plot([1, 2])", TEXT),                           # 1: pyplot, no image
                     ("def show_grid(images, path=None):\n    figure, axes = plt.subplots()\n    return figure", []),
                     ("def show_twice(images):\n    return show_grid(images)", []),               # 3: draws through show_grid
                     ("show_twice([1])", []),                                                       # 4: no image
                     ("show_grid([1], path='grid.png')", []),                                       # 5: saves, draws nothing
                     ("show_grid([1])", IMAGE),                                                     # 6: has its image
                     ("#| slow\nplt.imshow([[1]])", []),                                           # 7: not in the fast path
                     ("%matplotlib inline\nimage = 1\nprint([image].imshow)", TEXT),                # 8: no call to imshow
                     ("axis = None\nif False: axis.imshow([[1]])", []))                             # 9: a call at top level
    missing = docs.cells_missing_figures([path])
    assert [number for _, number, _ in missing] == [1, 4, 9], missing
    assert missing[0] == ("example.ipynb", 1, "fig, ax = plt.subplots()")


def test_detector_uses_the_package_functions(tmp_path):
    package = tmp_path / "package"
    package.mkdir()
    (package / "plots.py").write_text("import matplotlib.pyplot as plt\ndef draw(images):\n    return plt.imshow(images)\n")
    path = _notebook(tmp_path / "uses_package.ipynb", ("from package.plots import draw", []), ("draw([[1]])", []))
    assert docs.cells_missing_figures([path]) == []  # without the package, `draw` is unknown
    assert docs.cells_missing_figures([path], package) == [("uses_package.ipynb", 1, "draw([[1]])")]


def test_detector_finds_printing_cells_without_output(tmp_path):
    path = _notebook(tmp_path / "prints.ipynb",
                     ("value = 3\nprint(value)", TEXT),                   # 0: printed and stored
                     ("for value in range(2): print(value)\nvalue;", []),  # 1: printed, nothing stored
                     ("def report(value): print(value)", []),             # 2: defines, prints nothing
                     ("#| slow\nprint(1)", []),                           # 3: not in the fast path
                     ("print(1)", IMAGE))                                  # 4: only a figure stored
    assert [number for _, number, _ in docs.cells_missing_prints([path])] == [1, 4]


def test_refresh_keeps_the_print_output_of_a_cell_ending_in_a_semicolon(tmp_path):
    path = _notebook(tmp_path / "semicolon.ipynb", ("print('kept')\nlen('abc');", []))
    subprocess.run([sys.executable, str(ROOT / "tools" / "docs.py"), "_execute", str(path)], cwd=ROOT, check=True)
    outputs = json.loads(path.read_text())["cells"][0]["outputs"]
    assert [("".join(output.get("text", "")), output["output_type"]) for output in outputs] == [("kept\n", "stream")], outputs


ERROR = [{"output_type": "error", "ename": "NameError", "evalue": "name 'x' is not defined", "traceback": []}]


def test_the_site_build_refuses_an_error_the_stored_notebook_does_not_have(tmp_path):
    stored = _notebook(tmp_path / "stored.ipynb", ("print(3)", TEXT), ("raise ValueError", ERROR))
    docs.check_no_new_errors(stored, _notebook(tmp_path / "same.ipynb", ("print(3)", TEXT), ("raise ValueError", ERROR)))
    processed = _notebook(tmp_path / "processed.ipynb", ("print(3)", ERROR), ("raise ValueError", ERROR))
    with pytest.raises(SystemExit, match="1 error output"): docs.check_no_new_errors(stored, processed)


def test_notebook_numbers_in_prose_link_to_their_pages():
    pages = {"samplers": Path("nbs/07_samplers.ipynb"), "config": Path("nbs/00_config.ipynb"), "runs": Path("nbs/00_runs.ipynb")}
    text = "As notebook 07 shows, and [notebook 07](x.html) says; notebook 00 is two pages; `notebook 07` is code."
    assert docs._link_notebook_numbers(text, pages) == (
        "As [notebook 07](samplers.html) shows, and [notebook 07](x.html) says; notebook 00 is two pages; `notebook 07` is code.")
