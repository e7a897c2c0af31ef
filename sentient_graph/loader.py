"""Graph references: turn ``path.py:attr``, ``module:attr`` or a ``langgraph.json`` name into a graph.

Owns: parsing a graph reference, importing the module or file it names,
finding ``langgraph.json`` (LangGraph's own convention, in the working
directory or one of its parents) and its ``graphs`` map, turning what the
attribute holds (a compiled graph, a ``StateGraph`` builder, or a factory
function) into a compiled :class:`~langgraph.pregel.Pregel`, and remembering
the canonical reference of every graph it loaded, so the engine can store it
with a run and load the same graph again in another process.

Must not: attach a checkpointer, open a store or run anything; the runner
does that.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from sentient_graph.errors import GraphLoadError

__all__ = [
    "LANGGRAPH_JSON",
    "LoadedGraph",
    "find_langgraph_json",
    "graph_names",
    "load_graph",
    "ref_of",
]

LANGGRAPH_JSON = "langgraph.json"

#: Canonical reference of each graph object this process loaded (or was told about).
#: Weak, so a graph that nobody uses any more is not kept alive by the registry.
_REFS: weakref.WeakKeyDictionary[Pregel, str] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class LoadedGraph:
    """A compiled graph and the reference that loads it again in another process.

    Attributes:
        graph: The compiled graph, without a checkpointer attached.
        ref: A canonical reference (``/abs/path.py:attr`` or ``module:attr``).
        name: What the user typed (a ``langgraph.json`` name or the reference).
    """

    graph: Pregel
    ref: str
    name: str


def find_langgraph_json(start: Path | None = None) -> Path | None:
    """The nearest ``langgraph.json`` in ``start`` (default: cwd) or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / LANGGRAPH_JSON
        if candidate.is_file():
            return candidate
    return None


def _read_graphs_map(config_path: Path) -> dict[str, str]:
    try:
        data = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise GraphLoadError(f"cannot read {config_path}: {exc} (fix the JSON)") from None
    graphs = data.get("graphs") if isinstance(data, dict) else None
    if not isinstance(graphs, dict):
        raise GraphLoadError(
            f'{config_path} has no "graphs" map (add {{"graphs": {{"name": "./file.py:graph"}}}})'
        )
    return {str(k): str(v) for k, v in graphs.items()}


def graph_names(start: Path | None = None) -> dict[str, str]:
    """The ``graphs`` map of the nearest ``langgraph.json``, with refs made absolute."""
    config_path = find_langgraph_json(start)
    if config_path is None:
        return {}
    return {
        name: _absolute_ref(ref, config_path.parent)
        for name, ref in _read_graphs_map(config_path).items()
    }


def _split(ref: str) -> tuple[str, str]:
    target, sep, attr = ref.rpartition(":")
    # A Windows drive letter ("C:\\x.py") is not an attribute separator.
    if not sep or not target or not attr or "/" in attr or "\\" in attr:
        raise GraphLoadError(
            f"graph reference {ref!r} names no attribute "
            "(use path/to/file.py:graph, package.module:graph or a langgraph.json name)"
        )
    return target, attr


def _is_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _absolute_ref(ref: str, base: Path) -> str:
    target, attr = _split(ref)
    if _is_path(target):
        return f"{(base / target).resolve()}:{attr}"
    return ref


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise GraphLoadError(f"graph file {path} does not exist (check the path before ':')")
    # One module per file path, so loading the same file twice gives the same graph object.
    module_name = "sentient_graph_user." + "_".join(path.with_suffix("").parts[1:]).replace(
        "-", "_"
    ).replace(".", "_")
    existing = sys.modules.get(module_name)
    if existing is not None:
        return existing
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise GraphLoadError(f"cannot import {path} as Python (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # The file's own directory first, as `python file.py` would, so sibling imports work.
    added = str(path.parent)
    sys.path.insert(0, added)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise GraphLoadError(
            f"importing {path} failed: {type(exc).__name__}: {exc} (fix the error in that file)"
        ) from exc
    finally:
        if added in sys.path:
            sys.path.remove(added)
    return module


def _import_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise GraphLoadError(
                f"no module named {name!r} (is it installed, or did you mean a file path like ./{name.replace('.', '/')}.py?)"
            ) from None
        raise GraphLoadError(
            f"importing {name} failed: {type(exc).__name__}: {exc} (install the missing package)"
        ) from exc
    except Exception as exc:
        raise GraphLoadError(
            f"importing {name} failed: {type(exc).__name__}: {exc} (fix the error in that module)"
        ) from exc


def _to_pregel(obj: Any, ref: str) -> Pregel:
    if isinstance(obj, Pregel):
        return obj
    if isinstance(obj, StateGraph):
        return obj.compile()
    if callable(obj) and not inspect.isclass(obj):
        # LangGraph's own tools accept a factory; we call it without a config.
        try:
            made = obj()
        except TypeError as exc:
            raise GraphLoadError(
                f"{ref} is a function that needs arguments ({exc}); point at a compiled graph or a no-argument factory"
            ) from None
        if inspect.isawaitable(made):
            raise GraphLoadError(
                f"{ref} is an async factory; point at a compiled graph or a sync factory"
            )
        return _to_pregel(made, ref)
    raise GraphLoadError(
        f"{ref} is a {type(obj).__name__}, not a LangGraph graph (point at builder.compile())"
    )


def load_graph(ref: str, *, start: Path | None = None) -> LoadedGraph:
    """Load a graph by reference.

    Args:
        ref: ``path/to/file.py:attr`` (relative to the working directory),
            ``package.module:attr``, or a name from the ``graphs`` map of the
            nearest ``langgraph.json``.
        start: Where to look for files and ``langgraph.json`` (default: cwd).

    Returns:
        The compiled graph with its canonical reference.

    Raises:
        GraphLoadError: the reference is malformed, names nothing, or the
            import failed; the message says what to fix.
    """
    ref = ref.strip()
    base = (start or Path.cwd()).resolve()
    if not ref:
        raise GraphLoadError(
            "empty graph reference (use path/to/file.py:graph or a langgraph.json name)"
        )
    name = ref
    if ":" not in ref:
        names = graph_names(base)
        if ref not in names:
            where = find_langgraph_json(base)
            known = ", ".join(sorted(names)) or "none"
            hint = f"known in {where}: {known}" if where else f"no {LANGGRAPH_JSON} found"
            raise GraphLoadError(
                f"unknown graph {ref!r} ({hint}; or use path/to/file.py:graph / module:graph)"
            )
        ref = names[ref]
    target, attr = _split(ref)
    if _is_path(target):
        path = (base / target).resolve()
        module = _import_file(path)
        canonical = f"{path}:{attr}"
    else:
        module = _import_module(target)
        canonical = ref
    try:
        obj = getattr(module, attr)
    except AttributeError:
        public = sorted(k for k, v in vars(module).items() if isinstance(v, Pregel | StateGraph))
        hint = f" (graphs there: {', '.join(public)})" if public else ""
        raise GraphLoadError(f"{target} has no attribute {attr!r}{hint}") from None
    graph = _to_pregel(obj, canonical)
    _REFS[graph] = canonical
    return LoadedGraph(graph=graph, ref=canonical, name=name)


def ref_of(graph: Pregel) -> str | None:
    """The reference that loads ``graph`` again in another process, if one is known.

    Graphs loaded with :func:`load_graph` are remembered; otherwise a graph
    that is a module-level attribute of an importable module (not
    ``__main__``, not a notebook) is found by looking it up there.
    """
    known = _REFS.get(graph)
    if known is not None:
        return known
    main = sys.modules.get("__main__")
    for module_name, module in list(sys.modules.items()):
        # __main__ (and its multiprocessing alias) cannot be imported by another process.
        if module is None or module is main or module_name in ("__main__", "__mp_main__"):
            continue
        file = getattr(module, "__file__", None)
        if not file or "site-packages" in file:
            continue
        try:
            members = vars(module)
        except TypeError:
            continue
        for attr, value in list(members.items()):
            if value is graph:
                return f"{module_name}:{attr}"
    return None
