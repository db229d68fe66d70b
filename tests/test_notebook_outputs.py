"""The notebooks carry the outputs of their fast path (`python tools/docs.py refresh`): every cell that draws a figure
has its image stored, so GitHub, nbviewer and JupyterLab show the lessons' figures without running them."""
import importlib.util, json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("ddim_nb_docs_tool", ROOT / "tools" / "docs.py")
docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs)


def test_every_drawing_cell_has_its_figure():
    missing = docs.cells_missing_figures(docs.notebooks(), ROOT / "ddim_nb")
    assert not missing, ("cells that draw a figure but have no image stored (run `python tools/docs.py refresh`):\n"
                         + "\n".join(f"{name}, cell {number}: {line}" for name, number, line in missing))


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
