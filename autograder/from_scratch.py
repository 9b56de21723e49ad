"""From-scratch rules, checked on the answer's source before it runs.

A from-scratch exercise (a mask without ``torch.nn.utils.prune``, a quantizer without
``torch.quantize_per_tensor``) is checked in the test cell by
:func:`utils.grading.assert_does_not_use`, inside the student's kernel: a profile hook and
tripwires, which code in that same process can detect, dodge or undo. This module is the check
that code cannot reach: the grader reads the submission's text and decides.

The rules come from the lab itself: every ``assert_does_not_use(f, targets, ...)`` in a test cell
of the source notebook says "the answer that defines ``f`` must not use ``targets``" and that test
cell is the one a violation costs. :func:`violations` then walks the syntax tree of the answer
cell that defines ``f`` and reports, with line numbers:

* a name or an attribute chain that resolves to a target (``torch.quantize_per_tensor``,
  ``quantization.quantize`` where a locked cell did ``from utils import quantization``), and
  imports of one;
* what could reach a target without naming it: ``exec``/``eval``/``compile``, ``__import__``,
  ``getattr`` and friends, ``globals``/``vars``, ``open``; the modules ``importlib``, ``ctypes``,
  ``gc``, ``sys``, ``inspect``, ``builtins``, ``os``, ``pickle``, ``marshal``, ``types``;
  dunder attributes (``f.__code__``, ``().__class__``); torch's escape hatches (``torch.ops``,
  ``torch.library``, ``torch.load``, ``torch.jit``, ``torch._C``, ...);
* a global name the answer cells, the locked cells and the builtins do not define: a helper the
  student wrote in a cell of their own (outside the rules' reach) must move into the answer cell.

A violation gives 0 to the test cells of that exercise, with a message naming the line; the
runtime tripwire stays as a second line of defence. Parsing only: no student code runs here.
"""

from __future__ import annotations

import ast
import builtins
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import cells
from .verdict_process import without_magics

__all__ = ["BANNED_NAMES", "BANNED_ATTRIBUTE_PATHS", "Rule", "rules", "violations",
           "broken_rules"]

BANNED_NAMES = frozenset({
    "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "getattr", "setattr",
    "delattr", "open", "breakpoint", "input", "memoryview", "__builtins__", "importlib", "ctypes",
    "gc", "sys", "inspect", "builtins", "os", "subprocess", "pickle", "marshal", "types", "dill",
    "get_ipython", "runpy", "code", "codeop"})
#: Modules that reach compiled or serialized code, whatever the exercise.
BANNED_ATTRIBUTE_PATHS = ("torch.ops", "torch.library", "torch.load", "torch.jit", "torch.package",
                          "torch.hub", "torch.utils.cpp_extension", "torch._C", "torch._dynamo",
                          "torch.compile", "torch.overrides", "numpy.load", "torch.classes")
ALLOWED_DUNDERS = frozenset({"__init__", "__name__"})
_GRADING = Path(__file__).resolve().parent.parent / "utils" / "grading.py"


@dataclass
class Rule:
    """An answer function that must not use ``targets``; ``tests`` are the cells it earns."""
    function: str
    targets: tuple[str, ...]
    tests: list[str] = field(default_factory=list)


@functools.cache
def _constant(name: str) -> tuple[str, ...]:
    """A tuple of strings bound at the top of utils/grading.py (read, not imported)."""
    for node in ast.parse(_GRADING.read_text()).body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                                 for t in node.targets)):
            return tuple(ast.literal_eval(node.value))
    raise KeyError(f"utils/grading.py binds no {name}")


def _targets(node: ast.expr, bound: dict[str, ast.expr]) -> tuple[str, ...]:
    """The dotted targets an expression of a test cell stands for (literal tuples, names bound
    to them earlier, ``grading.available(...)`` and utils.grading's constants)."""
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(t for e in node.elts for t in _targets(e, bound))
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value,)
    if isinstance(node, ast.Name) and node.id in bound:
        return _targets(bound[node.id], bound)
    if isinstance(node, ast.Call) and node.args:        # grading.available(X): a subset of X
        return _targets(node.args[0], bound)
    if isinstance(node, (ast.Attribute, ast.Name)):
        return _constant(node.attr if isinstance(node, ast.Attribute) else node.id)
    raise ValueError(f"cannot read the forbidden targets {ast.unparse(node)!r}")


def rules(source_cells: Iterable) -> dict[str, Rule]:
    """function name -> :class:`Rule`, from the ``assert_does_not_use`` calls of the source's
    test cells (names bound to targets earlier in the notebook are followed)."""
    found: dict[str, Rule] = {}
    bound: dict[str, ast.expr] = {}
    for cell in source_cells:
        if not cells.is_code(cell) or cells.is_answer(cell):
            continue
        tree = _parse(cell.source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                    node.targets[0], ast.Name):
                bound[node.targets[0].id] = node.value
        if not cells.is_autograded_test(cell):
            continue
        loops = _loop_names(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and _called_name(node) == "assert_does_not_use"
                    and len(node.args) >= 2 and isinstance(node.args[0], ast.Name)):
                for function in loops.get(node.args[0].id, [node.args[0].id]):
                    rule = found.setdefault(function, Rule(function, ()))
                    rule.targets = tuple(dict.fromkeys(rule.targets
                                                       + _targets(node.args[1], bound)))
                    if cells.grade_id(cell) not in rule.tests:
                        rule.tests.append(str(cells.grade_id(cell)))
    return {name: rule for name, rule in found.items() if rule.tests}


def _loop_names(tree: ast.AST) -> dict[str, list[str]]:
    """``for fn in (a, b):`` -> {"fn": ["a", "b"]} (a test checking several answers in a loop)."""
    loops: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.For) and isinstance(node.target, ast.Name)
                and isinstance(node.iter, (ast.Tuple, ast.List))):
            names = [e.id for e in node.iter.elts if isinstance(e, ast.Name)]
            if names:
                loops[node.target.id] = names
    return loops


def _called_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _parse(source: str) -> ast.Module:
    return ast.parse(without_magics(source))


def imported_modules(tree: ast.AST) -> dict[str, str]:
    """name -> dotted path, for the imports of a tree (``from utils import quantization``
    binds ``quantization`` to ``utils.quantization``)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.AST) -> list[str] | None:
    """``torch.nn.functional`` as ["torch", "nn", "functional"]; None if not a plain chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def _within(path: str, prefixes: Iterable[str]) -> str | None:
    for prefix in prefixes:
        if path == prefix or path.startswith(prefix + "."):
            return prefix
    return None


def violations(answer_source: str, targets: tuple[str, ...], known: dict[str, str],
               defined: set[str]) -> list[str]:
    """``"line N: ..."`` for each use in ``answer_source`` that breaks the rules.

    known    names the locked cells (and the cell itself) import: name -> dotted module path
    defined  every other name the answer and locked cells define (functions, data)
    """
    try:
        tree = _parse(answer_source)
    except SyntaxError as error:
        return [f"line {error.lineno}: the cell does not parse ({error.msg})"]
    imports = {**known, **imported_modules(tree)}
    local = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
             and isinstance(n.ctx, (ast.Store, ast.Del))}
    local |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
              for a in n.args + n.posonlyargs + n.kwonlyargs + [n.vararg, n.kwarg] if a}
    local |= {n.name for n in ast.walk(tree)
              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    local |= {alias.asname or alias.name.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, (ast.Import, ast.ImportFrom)) for alias in n.names}
    found = []
    for node in ast.walk(tree):
        problem = _problem(node, targets, imports, local | defined)
        if problem:
            found.append(f"line {getattr(node, 'lineno', 0)}: {problem}")
    return sorted(set(found), key=lambda text: int(text.split(":")[0].split()[1]))


def _problem(node: ast.AST, targets: tuple[str, ...], imports: dict[str, str],
             defined: set[str]) -> str | None:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                   else [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""])
        for module in modules:
            hit = _within(module, targets + BANNED_ATTRIBUTE_PATHS) or (
                module.split(".")[0] if module.split(".")[0] in BANNED_NAMES else None)
            if hit:
                return f"imports {module} (from-scratch answers may not use {hit})"
        return None
    if isinstance(node, ast.Attribute) and node.attr.startswith("__") and (
            node.attr not in ALLOWED_DUNDERS):
        return f"uses the attribute {node.attr} (no dunder attributes in from-scratch answers)"
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        if node.id in BANNED_NAMES:
            return f"uses {node.id} (not allowed in from-scratch answers)"
        if node.id not in defined and node.id not in imports and not hasattr(builtins, node.id):
            return (f"uses {node.id}, which no answer or locked cell defines (a helper of your "
                    "own must be in the answer cell)")
    chain = _dotted(node) if isinstance(node, (ast.Attribute, ast.Name)) else None
    if chain and chain[0] in imports:
        path = ".".join([imports[chain[0]], *chain[1:]])
        hit = _within(path, targets + BANNED_ATTRIBUTE_PATHS)
        if hit:
            return f"uses {path} (from-scratch answers may not use {hit})"
    return None


def broken_rules(source_cells: list, submitted_cells: list) -> dict[str, str]:
    """test grade_id -> the message of the first broken rule among the answers it grades.

    ``source_cells``: the lab's source notebook (the rules and what locked cells bind);
    ``submitted_cells``: the submission as graded (its answer cells are read).
    """
    found_rules = rules(source_cells)
    if not found_rules:
        return {}
    known: dict[str, str] = {}
    defined: set[str] = set()
    for cell in source_cells:
        if cells.is_code(cell) and not cells.is_answer(cell) and not cells.is_graded(cell):
            tree = _parse(cell.source)
            known.update(imported_modules(tree))
            defined |= _top_level_names(tree)
    answers = [c for c in submitted_cells if cells.is_code(c) and cells.is_answer(c)]
    answer_trees = {id(c): _safe_parse(c.source) for c in answers}
    for parsed in answer_trees.values():
        defined |= _top_level_names(parsed) if parsed else set()
    messages: dict[str, str] = {}
    for rule in found_rules.values():
        cell = next((c for c in answers
                     if rule.function in _top_level_names(answer_trees[id(c)])), None)
        if cell is None:
            continue                         # not defined: the test fails on its own
        problems = violations(cell.source, rule.targets, known, defined)
        if problems:
            message = (f"{rule.function} must be written from scratch (cell "
                       f"{cells.grade_id(cell)!r}): " + "; ".join(problems[:3]))
            for test in rule.tests:
                messages.setdefault(test, message)
    return messages


def _safe_parse(source: str) -> ast.Module | None:
    try:
        return _parse(source)
    except SyntaxError:
        return None


def _top_level_names(tree: ast.Module | None) -> set[str]:
    names: set[str] = set()
    if tree is None:
        return names
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)):
            names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                      and isinstance(n.ctx, ast.Store)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
    return names
