"""The documentation website in a real browser: built from the notebooks as stored (`tools/docs.py site`; or the site
already built in the folder $DDIM_NB_SITE), served on localhost and opened page by page in headless Chromium. One
screenshot per page, scrolled to its first figure, goes to `_site_screenshots/` in the repository root."""
import ast, configparser, functools, html.parser, http.server, json, os, re, shutil, subprocess, sys, threading, urllib.parse, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "_site_screenshots"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
_SETTINGS = configparser.ConfigParser()
_SETTINGS.read(ROOT / "settings.ini")
UNPUBLISHED = (_SETTINGS["DEFAULT"]["doc_host"], _SETTINGS["DEFAULT"]["git_url"])  # settings for nbdev; nothing deploys there


def _missing_tools():
    missing = [name for name, found in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not found]
    for module in ("selenium", "sphinx", "myst_nb", "furo", "latex2mathml"):
        try: __import__(module)
        except ImportError: missing.append(module)
    return missing


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    "The built site, served on a free localhost port: (folder, base URL)."
    missing = _missing_tools()
    if missing:
        message = f"the docs test needs {', '.join(missing)}: pip install -e '.[dev,docs]'; apt-get install chromium chromium-driver"
        if os.environ.get("CI"): pytest.fail(message)
        pytest.skip(message)
    if os.environ.get("DDIM_NB_SITE"): folder = Path(os.environ["DDIM_NB_SITE"])  # a site built already
    else:
        folder = tmp_path_factory.mktemp("site") / "html"
        subprocess.run([sys.executable, str(ROOT / "tools" / "docs.py"), "site", "--out", str(folder)], cwd=ROOT, check=True)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # Debian's driver: no download
    yield driver
    driver.quit()


class _Ids(html.parser.HTMLParser):
    "Every id in a page (the targets of #anchors)."
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attributes):
        self.ids.update(value for key, value in attributes if key in ("id", "name") and value)


def _page_ids(url, cache={}):
    if url not in cache:
        with urllib.request.urlopen(url, timeout=10) as response:
            parser = _Ids()
            parser.feed(response.read().decode("utf-8", "replace"))
            cache[url] = parser.ids
    return cache[url]


def _module_all():
    "`__all__` of every module of the package, read from the source without importing it."
    modules = {}
    for path in sorted((ROOT / "ddim_nb").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "__all__" for target in node.targets):
                name = "ddim_nb" if path.stem == "__init__" else f"ddim_nb.{path.stem}"
                modules[name] = ast.literal_eval(node.value)
    return modules


def _stored_figures(notebook):
    "How many images the stored notebook shows on its page: the image outputs of cells neither hidden nor output-less."
    count = 0
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code": continue
        options = dict(re.findall(r"^#\|\s*([\w-]+):?[ \t]*(.*)$", "".join(cell["source"]), re.MULTILINE))
        if "hide" in options or options.get("include") == "false" or options.get("output") == "false": continue
        count += sum(any(mime.startswith("image/") for mime in output.get("data", {})) for output in cell.get("outputs", []))
    return count


def test_every_page_in_a_browser(site, browser):
    """Each page loads without a console error, shows no traceback and as many figures as its stored notebook, its images
    load, its internal links resolve; one screenshot per page."""
    folder, base = site
    pages = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*.html"))
    lessons = [page for page in pages if page not in ("genindex.html", "search.html", "api.html")]
    notebooks = {re.sub(r"^\d+[a-zA-Z0-9]*_", "", path.stem.lower()) + ".html": path for path in (ROOT / "nbs").glob("*.ipynb")
                 if not path.name.startswith(("_", "."))}  # nbdev's page names: 06_sampling.ipynb -> sampling.html
    expected = set(notebooks)
    assert expected | {"api.html"} <= set(pages), f"pages missing: {expected | {'api.html'} - set(pages)}"
    if SCREENSHOTS.exists(): shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir()
    problems, images_seen = [], {}
    for page in pages:
        browser.get_log("browser")  # drop what earlier pages left
        browser.get(base + page)
        errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        problems += [f"{page}: console error: {message}" for message in errors]
        images = browser.execute_script(
            "return Array.from(document.images).map(image => [image.currentSrc || image.src, image.complete, image.naturalWidth])")
        problems += [f"{page}: image not loaded: {source[:80]}" for source, complete, width in images if not (complete and width > 0)]
        images_seen[page] = len(images)
        if "Traceback (most recent call last)" in browser.execute_script("return document.body.innerText"):
            problems.append(f"{page}: shows a traceback")
        if page in notebooks:
            figures = browser.execute_script("return document.querySelectorAll('.cell_output img').length")
            if figures != _stored_figures(notebooks[page]):
                problems.append(f"{page}: {figures} figures, its stored notebook has {_stored_figures(notebooks[page])}")
        links = browser.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(link => link.href)")
        for link in set(links):
            if link.startswith(UNPUBLISHED): problems.append(f"{page}: links to {link}, which nothing in the repository publishes")
            if not link.startswith(base): continue  # external: no network here
            target, _, anchor = link.partition("#")
            try: ids = _page_ids(target)
            except Exception as error:
                problems.append(f"{page}: broken link {link}: {error}")
                continue
            if anchor and urllib.parse.unquote(anchor) not in ids: problems.append(f"{page}: link to a missing anchor: {link}")
        figure = browser.execute_script("return document.querySelector('.cell_output img, article img')")
        if figure:  # the screenshot shows the page's first figure (instant: the theme scrolls smoothly otherwise)
            browser.execute_script("document.documentElement.style.scrollBehavior = 'auto';"
                                   "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", figure)
        browser.save_screenshot(str(SCREENSHOTS / (page.replace("/", "_").removesuffix(".html") + ".png")))
    assert not problems, "\n".join(problems)
    assert sum(images_seen[page] for page in lessons) > 0, "no lesson page shows a figure"


def test_api_page_lists_every_public_name(site, browser):
    "The API page has a section per module listing every name of its `__all__`."
    folder, base = site
    browser.get(base + "api.html")
    missing = []
    for module, names in _module_all().items():
        listed = browser.execute_script(
            "const marker = document.getElementById(arguments[0]);"
            "return marker ? Array.from(marker.closest('section').querySelectorAll('li code')).map(code => code.textContent) : null",
            f"api-{module}")
        if listed is None: missing.append(f"no section for {module}")
        else: missing += [f"{module}.{name}" for name in names if name not in listed]
    assert not missing, f"missing from the API page: {missing}"


def test_the_readme_links_only_to_what_exists():
    "Every relative link of README.md names a file of the repository, and none points where nothing is published."
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert links, "README.md has no links: the pattern no longer matches"
    unpublished = [link for link in links if link.startswith(UNPUBLISHED)]
    missing = [link for link in links if "://" not in link and not link.startswith("#")
               and not (ROOT / urllib.parse.unquote(link.partition("#")[0])).exists()]
    assert not unpublished and not missing, f"links to nothing published: {unpublished}; to missing files: {missing}"
