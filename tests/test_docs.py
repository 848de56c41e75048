"""The documentation: what the API reference shows, and that references between pages link."""
import inspect
import re
from pathlib import Path

import pytest

from torch_w2v import TorchWord2Vec

ROOT = Path(__file__).resolve().parent.parent


def _section(docstring: str, title: str) -> list:
    """The entry names of a numpydoc section (``name : type`` lines at the first indent)."""
    lines = inspect.cleandoc(docstring).splitlines()
    start = lines.index(title) + 2
    names = []
    for line in lines[start:]:
        if line and not line.startswith(" ") and set(line) != {"-"} and " : " not in line:
            break  # the next section's title
        if " : " in line and not line.startswith(" "):
            names.append(line.split(" : ")[0])
    return names


def test_every_parameter_has_its_own_entry():
    documented = _section(TorchWord2Vec.__doc__, "Parameters")
    assert all("," not in name for name in documented), documented  # not "alpha, min_alpha"
    assert sorted(documented) == sorted(inspect.signature(TorchWord2Vec).parameters)


def test_every_fitted_attribute_is_documented(corpus):
    fitted = TorchWord2Vec(vector_size=8, min_count=2, epochs=1, progress=False).fit(corpus)
    attributes = {name for name in vars(fitted) if name.endswith("_") and not name.startswith("_")}
    assert attributes == set(_section(TorchWord2Vec.__doc__, "Attributes"))


def test_pages_link_the_pages_they_name():
    """A page named in code quotes (`docs/benchmarks.md`) is not a link in the rendered site."""
    pages = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *ROOT.glob("docs/*.md")]
    for page in pages:
        for match in re.finditer(r"`+(docs/)?[a-z_]+\.md`+", page.read_text()):
            raise AssertionError(f"{page.name}: {match.group(0)} should be a link")
    assert "`docs/" not in inspect.getsource(TorchWord2Vec)


def test_api_headings_carry_names_and_wide_tables_scroll():
    config = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"\n\s+separate_signature: true\n", config)  # not a 40-line heading
    sheets = re.search(r"extra_css:\n((?:\s+- .+\n)+)", config).group(1).split()[1::2]
    css = "".join((ROOT / "docs" / name).read_text() for name in sheets)
    assert re.search(r"table\s*{[^}]*overflow-x:\s*auto", css)


def test_the_readmes_first_example_runs_as_written(tmp_path, monkeypatch):
    """A new user pastes it first: every name defined, every word it asks about known."""
    example = (ROOT / "README.md").read_text().split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)  # it writes vectors.txt
    namespace = {}
    exec(compile(example, "README.md", "exec"), namespace)
    assert (tmp_path / "vectors.txt").exists() and len(namespace["model"].wv) > 1000


def test_ci_runs_the_readmes_test_command():
    assert "./dev test" in (ROOT / "README.md").read_text()
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()


def test_sphinx_roles_in_docstrings_become_links_on_the_api_page():
    """The API page showed 53 roles as literal text (:class:`...`)."""
    griffe = pytest.importorskip("griffe")
    extension = griffe.load_extensions(str(ROOT / "docs" / "hooks" / "sphinx_roles.py")
                                       + ":SphinxRoles")
    package = griffe.load("torch_w2v", extensions=extension, force_inspection=True)
    text = package["TorchWord2Vec"].docstring.value
    assert ":class:" not in text and ":mod:" not in text
    assert '<autoref identifier="torch_w2v.Word2Vec" optional>' in text
    fit = package["TorchWord2Vec.partial_fit"].docstring.value
    assert "TorchWord2Vec.fit\" optional>" in fit  # :meth:`fit` in its class
