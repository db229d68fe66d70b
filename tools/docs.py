"""Notebook outputs, the README and the documentation website, each by one command.

    python tools/docs.py refresh [NOTEBOOK ...]        # re-execute the fast path, store the outputs in the notebooks
    python tools/docs.py check-figures [NOTEBOOK ...]  # fail when a cell that draws has no image stored
    python tools/docs.py readme [--check]              # README.md from nbs/index.ipynb
    python tools/docs.py site [--out _site]            # the website, offline: nbdev's processing, MyST-NB, Sphinx, Furo

`refresh` runs each notebook in a fresh interpreter exactly as `nbdev_test` does (execnb's `CaptureShell`, cells
flagged with a `tst_flags` directive such as `#| slow` or `#| cuda` and `#| eval: false` cells skipped, `IN_TEST`
set), then stores the outputs and cleans the notebook with nbdev's cleaner, so `nbdev_clean` changes nothing
afterwards. Stored outputs drop what a static viewer cannot use or what changes on every run: standard error
(warnings, progress bars) and widget views (their state is not saved). The figure of a cell labelled
`#| label: fig-NAME` (Quarto's figure label) is also written to nbs/images/NAME.png, where the README shows it.

`site` needs the `docs` extra (`pip install -e ".[dev,docs]"`); it builds from the notebooks as stored, so run `refresh`
first for fresh figures. tests/test_docs_site.py opens every page of it in headless Chromium.
"""
import argparse, json, multiprocessing, os, re, shutil, subprocess, sys, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / "nbs"
FIGURE_FORMAT = "png"  # not 'retina': twice the pixels for no gain in a lesson's figures
FIGURE_DPI = 80
FIGURE_MAX_WIDTH = 800
"""The widest figure a notebook may store, in pixels. The website's text column is 46em (736 px) wide on a desktop, so a
figure at most 800 px wide shows at 92% of its size or more, and an 8-point label (about 9 px at 80 dpi) stays legible;
`figsize` width times 80 dpi, plus the margins of a tight bounding box, must fit (tests/test_notebook_outputs.py)."""
DROPPED_MIME_TYPES = ("application/vnd.jupyter.widget-view+json",)


def notebooks(names=()):
    "The notebooks named, or every notebook in nbs/ in file order (names starting with _ or . excluded)."
    if names: return [Path(name).resolve() for name in names]
    return sorted(path for path in NBS.glob("*.ipynb") if not path.name.startswith(("_", ".")))


def skip_flags():
    "The `tst_flags` of settings.ini, as nbdev_test reads them."
    from nbdev.config import get_config
    return set(get_config().get("tst_flags", "").split())


def _is_skipped(cell, flags):
    "Whether nbdev_test would skip this cell (same rules as nbdev.test.test_nb)."
    from nbdev.process import extract_directives
    if cell["cell_type"] != "code": return True
    if "nbdev_export" + "(" in cell["source"]: return True
    directives = extract_directives(cell, remove=False) or {}
    if directives.get("eval:", [""])[0].lower() == "false": return True
    return bool(flags & directives.keys())


def _clean_outputs(outputs):
    "Outputs worth storing: no standard error, no widget views."
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr": continue
        if "data" in output:
            output["data"] = {key: value for key, value in output["data"].items() if key not in DROPPED_MIME_TYPES}
            if not output["data"]: continue
        kept.append(output)
    return kept


def execute_notebook(path):
    "Run the fast path of the notebook at `path` in this process and store its outputs; raises on a failing cell."
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.clean import nbdev_clean
    from fastcore.basics import str2bool
    path = Path(path).resolve()
    os.environ["IN_TEST"] = "1"
    frontmatter = getattr(NBProcessor(path, procs=FrontmatterProc, process=True).nb, "frontmatter_", {})
    notebook = read_nb(path)
    for cell in notebook.cells:
        if cell.cell_type == "code": cell.outputs, cell.execution_count = [], None
    if not str2bool(frontmatter.get("skip_exec", False)):
        flags, shell = skip_flags(), CaptureShell(path, mpl_format=FIGURE_FORMAT)
        shell.run_cell(f"import matplotlib; matplotlib.rcParams['figure.dpi'] = {FIGURE_DPI}")
        with working_directory(path.parent):
            for cell in notebook.cells:
                if _is_skipped(cell, flags): continue
                source = cell.source
                if source.rstrip().endswith(";"): cell.source += "\nNone"  # execnb drops the print output of a cell ending in ';'
                shell.cell(cell)
                cell.source = source
                if shell.exc:
                    sys.stderr.write(shell.prettytb(fname=path) + "\n")
                    raise SystemExit(f"{path.name}: a cell failed, outputs not stored.")
                cell.outputs = _clean_outputs([dict(output) for output in cell.get("outputs", [])])
    write_nb(notebook, path)
    nbdev_clean(fname=str(path))
    save_labelled_figures(notebook, path.parent / "images")


def save_labelled_figures(notebook, folder):
    "Write the image of each cell labelled `#| label: fig-NAME` (Quarto's figure label) to `folder`/NAME.png, for the README."
    from base64 import b64decode
    from nbdev.process import extract_directives
    for cell in notebook.cells:
        if cell.cell_type != "code": continue
        label = (extract_directives(cell, remove=False) or {}).get("label:", [""])[0]
        if not label.startswith("fig-"): continue
        images = [output["data"]["image/png"] for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]
        if not images: raise SystemExit(f"The cell labelled {label} drew no figure to save.")
        folder.mkdir(exist_ok=True)
        (folder / f"{label.removeprefix('fig-')}.png").write_bytes(b64decode("".join(images[-1])))
        print(f"saved {folder.name}/{label.removeprefix('fig-')}.png", flush=True)


def refresh(names=()):
    "Re-execute each notebook in its own interpreter and store its outputs; stops at the first failure."
    total = time.time()
    for path in notebooks(names):
        start = time.time()
        result = subprocess.run([sys.executable, __file__, "_execute", str(path)], cwd=ROOT)
        if result.returncode: raise SystemExit(result.returncode)
        print(f"{path.name}: {time.time() - start:.0f} s, {path.stat().st_size / 1e6:.2f} MB", flush=True)
    sizes = sum(path.stat().st_size for path in notebooks())
    print(f"all: {time.time() - total:.0f} s; notebooks in nbs/ together {sizes / 1e6:.2f} MB")


def readme_text():
    "README.md's text: nbs/index.ipynb as Markdown (nbconvert, offline), its relative links and images made relative to the root."
    result = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "markdown", "--stdout", str(NBS / "index.ipynb")],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    relative = r"(?![a-zA-Z][a-zA-Z0-9+.-]*:|[#/])"  # not a URL, an anchor or an absolute path
    text = re.sub(r"(\]\()" + relative, r"\1nbs/", result.stdout)
    return re.sub(r'(<img [^>]*src=")' + relative, r"\1nbs/", text)


def readme(check=False):
    "Write README.md from nbs/index.ipynb, or with `check` fail when it is out of date."
    text, path = readme_text(), ROOT / "README.md"
    if not check: return path.write_text(text)
    if not path.exists() or path.read_text() != text:
        raise SystemExit("README.md is out of date: run `python tools/docs.py readme` and commit it.")


# Which cells draw a figure, read from the code: a call at a cell's top level (not inside a definition) to a pyplot
# function that makes or shows a figure, to an `imshow`-like method, or to a function (of the notebooks or the package)
# that itself makes a figure; a function that saves its figure to a `path` argument and closes it draws nothing when
# that argument is given.
FIGURE_CALLS = {"subplots", "figure", "subplot", "imshow", "matshow", "plot", "show", "bar", "barh", "hist", "scatter",
                "pcolormesh", "contour", "contourf", "subplot_mosaic", "errorbar", "semilogy", "loglog"}
IMAGE_MIME_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")


def _cell_tree(source):
    "The syntax tree of a code cell, IPython magics and shell lines left out; None if it is not Python."
    import ast
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try: return ast.parse("\n".join(lines))
    except SyntaxError: return None


def _makes_figure(call):
    "Whether a call node makes or shows a figure by itself (`plt.subplots(...)`, `axis.imshow(...)`)."
    import ast
    function = call.func
    if not isinstance(function, ast.Attribute): return False
    if isinstance(function.value, ast.Name) and function.value.id in ("plt", "pyplot"): return function.attr in FIGURE_CALLS
    return function.attr in ("imshow", "matshow")


def _top_level_calls(tree):
    "Calls made when the cell runs: those outside function and class bodies (and outside lambdas)."
    import ast
    calls, pending = [], list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)): continue
        if isinstance(node, ast.Call): calls.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return calls


def drawing_functions(trees):
    "{name: index of its `path` parameter or None} for every function in `trees` whose body makes a figure, found to a fixed point."
    import ast
    definitions = {node.name: node for tree in trees for node in ast.walk(tree)
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    drawing = {}
    while True:
        found = {}
        for name, node in definitions.items():
            if name in drawing: continue
            calls = [call for call in ast.walk(node) if isinstance(call, ast.Call)]
            if any(_makes_figure(call) or _called_name(call) in drawing for call in calls):
                parameters = [argument.arg for argument in node.args.args]
                found[name] = parameters.index("path") if "path" in parameters else None
        if not found: return drawing
        drawing.update(found)


def _called_name(call):
    import ast
    if isinstance(call.func, ast.Name): return call.func.id
    if isinstance(call.func, ast.Attribute): return call.func.attr
    return None


def _draws(call, drawing):
    "Whether this call shows a figure: it makes one, or calls a drawing function without asking it to save to a path."
    if _makes_figure(call): return True
    name = _called_name(call)
    if name not in drawing: return False
    path_index = drawing[name]
    saves = any(keyword.arg == "path" for keyword in call.keywords) or (path_index is not None and len(call.args) > path_index)
    return not saves


def cells_missing_figures(notebook_paths, package_folder=None):
    "(notebook name, cell number, first line) of every fast-path cell that draws a figure but has no image output stored."
    flags = skip_flags()
    package_trees = [_cell_tree(path.read_text()) for path in sorted(Path(package_folder).glob("*.py"))] if package_folder else []
    missing = []
    for path in notebook_paths:
        from execnb.nbio import read_nb
        notebook = read_nb(path)
        code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        trees = [_cell_tree(cell.source) for cell in code_cells]
        drawing = drawing_functions([tree for tree in trees + package_trees if tree is not None])
        for cell, tree in zip(code_cells, trees):
            if tree is None or _is_skipped(cell, flags): continue
            if not any(_draws(call, drawing) for call in _top_level_calls(tree)): continue
            if any(mime in output.get("data", {}) for output in cell.get("outputs", []) for mime in IMAGE_MIME_TYPES): continue
            first_line = next((line for line in cell.source.splitlines() if line.strip() and not line.startswith("#|")), "")
            missing.append((Path(path).name, cell.idx_, first_line.strip()))
    return missing


def cells_missing_prints(notebook_paths):
    "(notebook name, cell number, first line) of every fast-path cell that calls `print` at its top level but has no printed output stored."
    flags, missing = skip_flags(), []
    for path in notebook_paths:
        from execnb.nbio import read_nb
        for cell in read_nb(path).cells:
            if cell.cell_type != "code" or _is_skipped(cell, flags): continue
            tree = _cell_tree(cell.source)
            if tree is None or not any(_called_name(call) == "print" for call in _top_level_calls(tree)): continue
            if any(output.get("output_type") == "stream" and output.get("name") == "stdout" for output in cell.get("outputs", [])):
                continue
            first_line = next((line for line in cell.source.splitlines() if line.strip() and not line.startswith("#|")), "")
            missing.append((Path(path).name, cell.idx_, first_line.strip()))
    return missing


def wide_figures(notebook_paths, max_width=FIGURE_MAX_WIDTH):
    "(notebook name, cell number, width) of every stored PNG figure wider than `max_width` pixels."
    import base64, io
    from PIL import Image
    wide = []
    for path in notebook_paths:
        for number, cell in enumerate(json.loads(Path(path).read_text())["cells"]):
            for output in cell.get("outputs", []):
                if "image/png" not in output.get("data", {}): continue
                width = Image.open(io.BytesIO(base64.b64decode("".join(output["data"]["image/png"])))).size[0]
                if width > max_width: wide.append((Path(path).name, number, width))
    return wide


def check_figures(names=()):
    "Fail (exit 1) when a cell that draws a figure has no image stored, naming the cells and the command that fixes it."
    missing = cells_missing_figures(notebooks(names), ROOT / "ddim_nb")
    for name, number, line in missing: print(f"{name}, cell {number}: draws a figure but has no image stored: {line}")
    if missing:
        raise SystemExit(f"{len(missing)} cells lack their figures: run `python tools/docs.py refresh` and commit the notebooks.")
    print("every cell that draws a figure has its image stored")


# The website. nbdev's own processing (hidden cells removed, show_doc rendered for every exported name, links to the
# documentation of backticked names), then a few conversions from Quarto's cell options to MyST-NB's, then Sphinx.
SITE_SOURCE = ROOT / "_build" / "site_source"
CELL_KEYS = {"markdown": {"cell_type", "metadata", "source", "attachments"}, "raw": {"cell_type", "metadata", "source"},
             "code": {"cell_type", "metadata", "source", "outputs", "execution_count"}}
QUARTO_TAGS = {"echo": "remove-input", "output": "remove-output", "include": "remove-cell"}


def page_name(notebook):
    "The page a notebook becomes, by nbdev's rule (`06_sampling.ipynb` -> `sampling`), so nbdev's links resolve."
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(notebook)).stem


def process_notebook(source, destination):
    """nbdev's documentation processors on one notebook. Unlike nbdev_proc_nbs, cells flagged with `tst_flags` (`#| slow`)
    are never run, a failing cell that nbdev runs only because it imports is reported, not fatal, and every cell but
    nbdev's own `show_doc` cells keeps its stored outputs: the page shows what `refresh` computed, never a re-run's error."""
    from execnb.nbio import read_nb, write_nb
    from fastcore.xtras import working_directory
    from nbdev import processors
    flags = skip_flags()
    class stored_outputs_exec_show_docs(processors.exec_show_docs):
        def __call__(self, cell):
            directives = set(getattr(cell, "directives_", {}) or {})
            if flags & directives: return  # never run a slow cell for the docs
            stored = cell.get("outputs")
            try: super().__call__(cell)
            except Exception as error:
                if {"export", "exports", "exporti", "exec_doc"} & directives: raise
                print(f"WARNING {Path(source).name}: nbdev could not run this cell for the docs, skipped: {error.__cause__!r}",
                      file=sys.stderr)
                self.k.exc = None
            if cell.cell_type == "code" and "show_doc(" not in cell.source: cell.outputs = stored
    class Processors(processors.FilterDefaults):
        def base_procs(self):
            return [stored_outputs_exec_show_docs if proc is processors.exec_show_docs else proc for proc in super().base_procs()]
    os.environ["IN_TEST"] = "1"
    if "ipywidgets" in sys.modules: sys.modules["ipywidgets"].Widget.close_all()  # a worker's earlier notebooks keep none in this one's metadata
    notebook = read_nb(source)
    with working_directory(Path(source).parent): Processors()(notebook)
    write_nb(notebook, destination)


def _error_outputs(path):
    "(cell number, error name) of every error output, or standard output holding a traceback, in the notebook at `path`."
    errors = []
    for number, cell in enumerate(json.loads(Path(path).read_text())["cells"]):
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
            if output.get("output_type") == "error": errors.append((number, output.get("ename", "error")))
            elif "Traceback (most recent call last)" in text: errors.append((number, "traceback"))
    return errors


def check_no_new_errors(stored, processed):
    "Fail when nbdev's processing left an error output on the page that the stored notebook does not have."
    new = len(_error_outputs(processed)) - len(_error_outputs(stored))
    if new > 0:
        raise SystemExit(f"{Path(stored).name}: the page would show {new} error output(s) the stored notebook does not have: "
                         f"{_error_outputs(processed)}. Run the notebook top to bottom, then `python tools/docs.py refresh`.")


def _site_link(url, pages, doc_root, anchors):
    """A link of the lessons rewritten to the site's pages; None for nbdev's link to a name the site does not document (a
    private helper); other links unchanged."""
    from_nbdev = url.startswith(doc_root + "/")
    if from_nbdev: url = url[len(doc_root):].lstrip("/")
    if "://" in url or url.startswith(("#", "mailto:")): return url
    path, _, anchor = url.partition("#")
    stem = Path(path).stem
    if Path(path).suffix not in (".ipynb", ".html", ".md") or page_name(stem + ".ipynb") not in pages: return url
    page = page_name(stem + ".ipynb")
    if from_nbdev and anchor and anchor not in anchors.get(page, ()): return None
    return page + ".html" + (f"#{anchor}" if anchor else "")


def _rewrite_links(text, pages, doc_root, anchors):
    "Markdown links rewritten by `_site_link`; a link to nothing becomes its text."
    def rewrite(match):
        url = _site_link(match[2], pages, doc_root, anchors)
        return match[1] if url is None else f"[{match[1]}]({url})"
    return re.sub(r"\[([^\]]*)\]\(([^)\s]+)\)", rewrite, text)


def show_doc_anchors(path):
    "The anchors of the show_doc entries in a notebook processed by nbdev."
    notebook = json.loads(Path(path).read_text())
    markdowns = ["".join(output.get("data", {}).get("text/markdown", "")) for cell in notebook["cells"]
                 for output in cell.get("outputs", [])]
    return [anchor for anchor in map(_show_doc_anchor, markdowns) if anchor]


def _show_doc_anchor(markdown):
    "`### name` of a show_doc output, as nbdev's anchors spell it (lower case)."
    match = re.search(r"^#{2,4} (\S+)\s*$", markdown, re.MULTILINE)
    return match[1].lower() if match else None


def _link_notebook_numbers(text, pages):
    "`notebook 07` in prose made a link to that lesson's page (numbers that name one notebook only; not inside a link)."
    numbers = {}
    for page, path in pages.items(): numbers.setdefault(Path(path).name.split("_")[0], []).append(page)
    def link(match):
        before = text[:match.start()]
        inside_link = before.count("[") > before.count("]") or before.count("`") % 2
        pages_of = numbers.get(match[2], [])
        if inside_link or len(pages_of) != 1: return match[0]
        return f"[{match[1]}{match[2]}]({pages_of[0]}.html)"
    return re.sub(r"\b([Nn]otebook )(\d\d[a-z]?)\b", link, text)


def to_myst_notebook(path, pages, doc_root, anchors):
    "Turn a notebook processed by nbdev into one MyST-NB renders as Quarto would (`anchors`: {page: its show_doc anchors})."
    import yaml
    notebook, cells = json.loads(path.read_text()), []
    notebook["metadata"].pop("widgets", None)  # widget state would make MyST-NB load the widget manager from a CDN
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "raw" and source.startswith("---"):
            front = yaml.safe_load(source.strip().strip("-")) or {}
            lines = [f"# {front.get('title', path.stem)}"] + ([f"*{front['description']}*"] if front.get("description") else [])
            cell = {"cell_type": "markdown", "metadata": {}, "source": "\n\n".join(lines)}
        elif cell["cell_type"] == "markdown":
            cell["source"] = _link_notebook_numbers(_rewrite_links(source, pages, doc_root, anchors), pages)
        elif cell["cell_type"] == "code":
            options, lines = {}, source.splitlines()
            while lines and lines[0].startswith("#|"):
                key, _, value = lines.pop(0)[2:].partition(":")
                options[key.strip()] = value.strip()
            cell["source"] = "\n".join(lines)
            tags = [tag for key, tag in QUARTO_TAGS.items() if options.get(key) == "false"]
            if tags: cell.setdefault("metadata", {})["tags"] = tags
            cell["outputs"] = _clean_outputs(cell.get("outputs", []))
            for output in cell["outputs"]:
                markdown = output.get("data", {}).get("text/markdown")
                if markdown is None: continue
                markdown = "".join(markdown)
                anchor = _show_doc_anchor(markdown)
                if anchor:
                    markdown = re.sub(r"\[source\]\([^)]*\)(\{[^}]*\})?\s*", "", markdown)  # to a repository nothing publishes
                    markdown = markdown.removeprefix("---\n").lstrip("\n")
                    markdown = f'<div class="show-doc" id="{anchor}"></div>\n\n' + markdown
                output["data"]["text/markdown"] = _rewrite_links(markdown, pages, doc_root, anchors)
            if not cell["source"].strip() and not cell.get("outputs"): continue
        keys = CELL_KEYS[cell["cell_type"]]
        cells.append({key: value for key, value in cell.items() if key in keys})
    for number, cell in enumerate(cells): cell["id"] = f"cell-{number}"
    notebook["cells"] = cells
    path.write_text(json.dumps(notebook, indent=1))


def _module_names(module_file):
    "The names in a module's `__all__` with the first line of their docstrings, read without importing it."
    import ast
    tree = ast.parse(module_file.read_text())
    names, docs = [], {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "__all__" for target in node.targets):
            names = ast.literal_eval(node.value)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            docs[node.name] = (ast.get_docstring(node) or "").strip().split("\n")[0]
    return names, docs


def api_page(modules, anchors):
    "Markdown of the API page: every name of every module's `__all__`, linked to where its lesson documents it."
    lines = ["# API", "", "Every public name of the package, module by module, linked to the lesson that defines it."]
    for module, (page, title, module_file) in modules.items():
        names, docs = _module_names(module_file)
        lines += ["", f"## `{module}`", "", f'<div class="api-module" id="api-{module}"></div>', "",
                  f"Lesson: [{title}]({page}.html)", ""]
        for name in names:
            target = f"{page}.html#{name.lower()}" if name.lower() in anchors.get(page, ()) else f"{page}.html"
            lines.append(f"- [`{name}`]({target})" + (f": {docs[name]}" if docs.get(name) else ""))
    return "\n".join(lines) + "\n"


SPHINX_CONF = """\
project = {title!r}
author = {author!r}
copyright = {copyright!r}
extensions = ["myst_nb"]
nb_execution_mode = "off"           # the notebooks carry their outputs (tools/docs.py refresh)
nb_render_markdown_format = "myst"  # show_doc's Markdown
nb_output_stderr = "remove"
myst_enable_extensions = ["attrs_inline", "dollarmath", "amsmath"]
html_math_renderer = "mathml"     # LaTeX to MathML at build time (latex2mathml): browsers draw it, no script, no CDN
myst_all_links_external = True      # links were rewritten to the site's pages; the browser test checks them
html_theme = "furo"
html_title = {title!r}
html_show_sourcelink = False
html_copy_source = False
html_css_files = ["ddim_nb.css"]
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header", "misc.highlighting_failure"]


def _math(self, node):
    from docutils import nodes
    from latex2mathml.converter import convert
    block = isinstance(node, nodes.math_block)
    html = convert(node.astext(), display="block" if block else "inline")
    self.body.append(f'<div class="math-block">{{html}}</div>' if block else html)
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mathml", (_math, None), (_math, None))
"""

SITE_CSS = """\
.show-doc { border-top: 1px solid var(--color-background-border); margin-top: 1.5rem; }
.cell_output img { max-width: 100%; height: auto; }
div.highlight pre { white-space: pre-wrap; overflow-wrap: anywhere; }  /* long code lines wrap instead of being cut */
.math-block { overflow-x: auto; overflow-y: hidden; margin: 1rem 0; padding: 0.3rem 0; }
math { font-size: 1.15em; }
"""

FAVICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="3" fill="#d4a017"/>\
<g fill="#c2185b"><circle cx="8" cy="3" r="2.5"/><circle cx="8" cy="13" r="2.5"/><circle cx="3" cy="8" r="2.5"/>\
<circle cx="13" cy="8" r="2.5"/></g></svg>
"""


APPENDICES = ("08_bench", "08a_cpu_tuning")
"Notebooks off the reading path: the site's navigation lists them after the lessons."


def navigation(pages, modules):
    "The sidebar: the lessons in reading order, each with its notebook's number, then the appendices, then the API page."
    titles = {page: title for page, title, _ in modules.values()}
    def entry(page):
        number = Path(pages[page]).name.split("_")[0]
        return f"{number} {titles.get(page, page)} <{page}>"
    def toctree(caption, entries):
        return f"```{{toctree}}\n:hidden:\n:maxdepth: 1\n:caption: {caption}\n\n" + "\n".join(entries) + "\n```"
    lessons = [page for page in pages if page != "index" and Path(pages[page]).stem not in APPENDICES]
    appendices = [page for page in pages if Path(pages[page]).stem in APPENDICES]
    return "\n\n".join([toctree("Lessons", map(entry, lessons)), toctree("Appendices", map(entry, appendices)),
                        toctree("Reference", ["api"])])


def build_site(output=ROOT / "_site", source=SITE_SOURCE, names=()):
    "Build the website into `output` from the notebooks as stored (run `refresh` first for fresh figures)."
    from nbdev.config import get_config
    config, start = get_config(), time.time()
    paths = notebooks(names)
    if source.exists(): shutil.rmtree(source)
    (source / "_static").mkdir(parents=True)
    pages = {page_name(path): path for path in paths}
    from concurrent.futures import ProcessPoolExecutor
    # The processing runs each notebook's imports and exports in a fresh namespace; a few long-lived worker processes
    # import JAX, Keras and TensorFlow once each instead of once per notebook.
    with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        sys.path.insert(0, str(Path(__file__).parent))
        import docs  # the workers find `process_notebook` by this module's name, not as __main__
        jobs = {path: pool.submit(docs.process_notebook, str(path), str(source / f"{page}.ipynb")) for page, path in pages.items()}
        for path, job in jobs.items():
            if job.exception():
                traceback.print_exception(job.exception())  # with its cause: the cell's own error
                raise SystemExit(f"nbdev's processing of {path.name} failed.")
    for page, path in pages.items(): check_no_new_errors(path, source / f"{page}.ipynb")
    doc_root = config.get("doc_host", "").rstrip("/") + config.get("doc_baseurl", "").rstrip("/")
    anchors = {page: show_doc_anchors(source / f"{page}.ipynb") for page in pages}
    for page in pages: to_myst_notebook(source / f"{page}.ipynb", pages, doc_root, anchors)
    modules = {}
    for page, path in pages.items():
        sources = ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]
        match = re.search(r"^#\|\s*default_exp\s+(\S+)", "\n".join(sources), re.MULTILINE)
        if match:
            module = config.lib_name if match[1] == "__init__" else f"{config.lib_name}.{match[1]}"
            module_file = ROOT / config.lib_path / (match[1].replace(".", "/") + ".py")
            title = json.loads((source / f"{page}.ipynb").read_text())["cells"][0]["source"].split("\n")[0].lstrip("# ")
            modules[module] = (page, title, module_file)
    (source / "api.md").write_text(api_page(modules, anchors))
    index = source / "index.ipynb"
    if index.exists():
        notebook = json.loads(index.read_text())
        notebook["cells"].append({"cell_type": "markdown", "id": "toctree", "metadata": {}, "source": navigation(pages, modules)})
        index.write_text(json.dumps(notebook, indent=1))
    if (NBS / "images").exists(): shutil.copytree(NBS / "images", source / "images")
    (source / "conf.py").write_text(SPHINX_CONF.format(title=config.title, author=config.author, copyright=config.copyright))
    (source / "_static" / "ddim_nb.css").write_text(SITE_CSS)
    (source / "_static" / "favicon.svg").write_text(FAVICON)
    if Path(output).exists(): shutil.rmtree(output)
    result = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-n", "--keep-going", "-W",
                             str(source), str(output), "-d", str(source / "_doctrees")])
    if result.returncode: raise SystemExit("Sphinx failed (see its warnings above).")
    print(f"site: {output}/index.html ({len(pages)} notebooks and the API page, {time.time() - start:.0f} s)")
    return Path(output)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{refresh,check-figures,readme,site}")
    command = commands.add_parser("refresh", help="re-execute the notebooks' fast path and store the outputs")
    command.add_argument("notebooks", nargs="*", help="notebooks to refresh (default: all in nbs/)")
    command = commands.add_parser("site", help="build the documentation website (offline)")
    command.add_argument("--out", default=str(ROOT / "_site"), help="output folder (default: _site)")
    command.add_argument("notebooks", nargs="*", help="only these notebooks (default: all in nbs/)")
    command = commands.add_parser("readme", help="write README.md from nbs/index.ipynb")
    command.add_argument("--check", action="store_true", help="only fail when README.md is out of date")
    command = commands.add_parser("check-figures", help="fail when a cell that draws a figure has no image stored")
    command.add_argument("notebooks", nargs="*", help="notebooks to check (default: all in nbs/)")
    commands.add_parser("_execute").add_argument("notebook")
    arguments = parser.parse_args(argv)
    if arguments.command == "refresh": refresh(arguments.notebooks)
    elif arguments.command == "site": build_site(Path(arguments.out), names=arguments.notebooks)
    elif arguments.command == "readme": readme(arguments.check)
    elif arguments.command == "check-figures": check_figures(arguments.notebooks)
    elif arguments.command == "_execute": execute_notebook(arguments.notebook)


if __name__ == "__main__": main()
