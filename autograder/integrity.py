"""Keep a submission from rigging its own tests: runs *inside* the student's kernel.

A test cell trusts the functions it calls: ``torch.equal``, ``torch.allclose``, ``math.isclose``,
the reference implementations in ``utils``, the modules bound by the instructor's locked cells.
A submission could replace any of them (``torch.allclose = lambda *a, **k: True``) so that a wrong
answer passes. The autograder (:class:`autograder.execution.GuardedExecute`) therefore

1. calls :func:`seal` when the kernel starts, *before any student code runs*, which records the
   original objects;
2. calls :func:`remember` around every locked (instructor) cell, to add the modules, functions and
   classes that cell binds in the notebook's namespace;
3. calls :func:`restore` before every locked cell: anything replaced since is put back, and the
   names are reported (the test then runs on the originals);
4. calls :func:`restore` again right after every test cell: a replacement made *while the test
   ran* (by the student's function) fails that test.

What is guarded: every callable attribute of the modules in :data:`GUARDED_MODULES` and of every
``utils`` module, the attributes of ``torch.Tensor``, the builtins in :data:`GUARDED_BUILTINS`,
the ``sys.modules`` entries of all of these, and the namespace bindings of locked cells.

Limits, stated honestly: everything in one Python process is reachable, so a submission written
to defeat this module itself (replacing :func:`restore`) is not stopped by it. The guarantee is
against patching the library and reference functions a test relies on.
"""

import builtins
import importlib
import pkgutil
import re
import sys
import types

GUARDED_MODULES = ("math", "statistics", "operator", "numpy", "numpy.testing", "torch",
                   "torch.testing", "torch.nn.functional")
GUARDED_CLASSES = ("torch.Tensor", "torch._C.TensorBase")
GUARDED_BUILTINS = ("abs", "all", "any", "bool", "float", "int", "isinstance", "issubclass", "len",
                    "list", "max", "min", "print", "range", "repr", "round", "sorted", "str", "sum",
                    "tuple", "type", "zip")
_MISSING = object()
# Attributes Python itself caches on classes (copyreg's, on the first deepcopy or pickle).
CACHES = frozenset({"__slotnames__"})
# Replacements torch makes itself, lazily: importing torch._dynamo (FX does) wraps manual_seed in
# torch._disable_dynamo. Accepted only as a functools.wraps wrapper of the sealed original.
LIBRARY_WRAPPERS = frozenset({"torch.manual_seed"})
# Names IPython itself rebinds after cells (output cache, input history): never guarded.
IPYTHON_NAMES = re.compile(r"^(_+|_i+|_i\d+|_\d+|_ih|_oh|_dh|In|Out|exit|quit|get_ipython)$")


class Seal:
    """The original objects: ``(owner, name) -> object``, plus the guarded ``sys.modules``."""

    def __init__(self):
        self.attributes = {}   # (owner object, attribute name) -> original value
        self.labels = {}       # (owner object, attribute name) -> "torch.allclose" (for reports)
        self.modules = {}      # sys.modules key -> original module object
        self.classes = {}      # label -> (class, names it had): names added later are replaced

    def add(self, owner, label, names=None):
        values = vars(owner)
        for name in names if names is not None else list(values):
            value = values.get(name, _MISSING)
            if value is not _MISSING and _is_guarded_value(value):
                self.attributes[(id(owner), name)] = (owner, value)
                self.labels[(id(owner), name)] = f"{label}.{name}"

    def add_class(self, cls, label):
        self.add(cls, label)
        self.classes[label] = (cls, frozenset(vars(cls)))

    def add_module(self, module):
        self.modules[module.__name__] = module
        self.add(module, module.__name__)

    def add_namespace(self, namespace, names):
        """Bindings of a notebook namespace (a dict) whose values are modules, functions or
        classes; a dict is not an attribute owner, so it gets a holder."""
        for name in names:
            key, value = (id(namespace), name), namespace.get(name, _MISSING)
            if value is not _MISSING and _is_guarded_value(value, modules_too=True):
                self.attributes[key] = (namespace, value)
                self.labels[key] = f"notebook name {name!r}"
            else:                       # the locked cell rebound it to data: no longer guarded
                self.attributes.pop(key, None)
                self.labels.pop(key, None)


_seal = None
_namespace_before = {}


def _is_guarded_value(value, modules_too=False):
    if isinstance(value, types.ModuleType):
        return modules_too
    if modules_too:     # a notebook's names: only what code is made of, not objects (nn.Module)
        return isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type))
    return callable(value) or isinstance(value, (staticmethod, classmethod, property))


def _utils_modules():
    import utils
    names = [f"utils.{info.name}" for info in pkgutil.iter_modules(utils.__path__)]
    return [utils] + [importlib.import_module(name) for name in sorted(names)]


def seal():
    """Record the originals of everything guarded. Call once, before any student code runs."""
    global _seal
    _seal = Seal()
    for name in GUARDED_MODULES:
        _seal.add_module(importlib.import_module(name))
    for module in _utils_modules():
        _seal.add_module(module)
    for dotted in GUARDED_CLASSES:
        owner, _, name = dotted.rpartition(".")
        _seal.add_class(getattr(importlib.import_module(owner), name), dotted)
    _seal.add(builtins, "builtins", GUARDED_BUILTINS)
    return len(_seal.attributes)


def remember(namespace, phase):
    """Around a locked cell: ``phase="before"`` notes the namespace, ``phase="after"`` guards
    the modules, functions and classes the cell bound (new names or rebound ones)."""
    global _namespace_before
    if phase == "before":
        _namespace_before = {name: id(value) for name, value in namespace.items()}
        return []
    changed = [name for name, value in namespace.items()
               if _namespace_before.get(name) != id(value) and not IPYTHON_NAMES.match(name)]
    _seal.add_namespace(namespace, changed)
    return changed


def _get(owner, name):
    if isinstance(owner, dict):
        return owner.get(name, _MISSING)
    return vars(owner).get(name, _MISSING)


def _put(owner, name, value):
    if isinstance(owner, dict):
        owner[name] = value
    else:
        setattr(owner, name, value)


def _added_to_classes():
    """(class, name, label) of attributes set on a guarded class after the seal."""
    return [(cls, name, f"{label}.{name}") for label, (cls, names) in _seal.classes.items()
            for name in set(vars(cls)) - names - CACHES]


def _accept_library_wrappers():
    for key, (owner, value) in list(_seal.attributes.items()):
        current = _get(owner, key[1])
        if (_seal.labels[key] in LIBRARY_WRAPPERS and current is not value
                and getattr(current, "__wrapped__", None) is value):
            _seal.attributes[key] = (owner, current)


def replaced():
    """Labels of everything guarded that is no longer the original object."""
    _accept_library_wrappers()
    found = [label for label, module in _seal.modules.items() if sys.modules.get(label) is not module]
    found += [_seal.labels[key] for key, (owner, value) in _seal.attributes.items()
              if _get(owner, key[1]) is not value]
    found += [label for _, _, label in _added_to_classes()]
    return sorted(found)


def restore():
    """Put every replaced original back; returns the labels of what had been replaced."""
    found = replaced()
    for label, module in _seal.modules.items():
        sys.modules[label] = module
    for key, (owner, value) in _seal.attributes.items():
        if _get(owner, key[1]) is not value:
            _put(owner, key[1], value)
    for cls, name, _ in _added_to_classes():
        delattr(cls, name)
    return found
