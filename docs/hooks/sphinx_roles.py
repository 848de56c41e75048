"""A griffe extension for the API pages: the docstrings' Sphinx roles (``:class:`~a.B```,
``:func:`x```, ``:meth:``, ``:mod:``, ``:data:``, ``:attr:``) become mkdocstrings cross-references,
so they render as links instead of literal text. Once the package is loaded, each target is
resolved where its docstring is written (``:meth:`fit``` inside ``TorchWord2Vec`` means
``TorchWord2Vec.fit``), then in its module and the package; a name not documented here
(``torch.distributed``) stays code. Links to objects the API page does not show are optional
(plain text, no warning)."""
from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj):`(~?)([\w.]+)(?:\(\))?`")


class SphinxRoles(griffe.Extension):
    def on_package(self, *, pkg, **kwargs) -> None:
        for obj in _walk(pkg, set()):
            if obj.docstring is not None:
                obj.docstring.value = ROLE.sub(lambda found, here=obj: _link(here, pkg, found),
                                               obj.docstring.value)


def _walk(obj, seen: set):
    if obj.path in seen or obj.is_alias:
        return
    seen.add(obj.path)
    yield obj
    for member in list(obj.members.values()):
        if not member.is_alias:
            yield from _walk(member, seen)


def _link(obj, pkg, found) -> str:
    short, name = found.group(1), found.group(2)
    shown = name.rsplit(".", 1)[-1] if short else name
    target = _resolve(obj, name, pkg)
    if target is None:
        return f"`{shown}`"
    return f'<autoref identifier="{target}" optional><code>{shown}</code></autoref>'


def _resolve(obj, name: str, pkg) -> str | None:
    scopes, node = [], obj
    while node is not None:
        scopes.append(node.path)
        node = node.parent
    for candidate in [f"{scope}.{name}" for scope in scopes] + [name]:
        if candidate == pkg.path or candidate.startswith(pkg.path + "."):
            try:
                pkg[candidate[len(pkg.path) + 1:]] if candidate != pkg.path else pkg
            except (KeyError, ValueError, AttributeError, griffe.AliasResolutionError):
                continue
            return candidate
    return None
