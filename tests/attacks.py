"""Submissions built to get points without the work, by changing what test cells run.

Shared by tests/test_autograde.py (lab 00, one attack per submission, each also shown to work on
an unguarded kernel) and tests/test_autograde_labs.py (every lab, the attacks stacked).
"""

# Attacks on the shell and the interpreter (issue 12 §2): one block added to the first answer
# cell, either of the blank release (0 points) or of the solution with a wrong median_ratio
# (7 points). Unguarded, each turns failing test cells into passes (test_autograde.py's
# test_each_attack_works_unguarded shows it); guarded, the submission keeps its score and the
# report names what was put back. name -> (code, a phrase of the "restored" detail, base).
REBIND = """import statistics, utils.cost
def _rebind(namespace):
    namespace['count_parameters'] = utils.cost.count_parameters
    namespace['median_ratio'] = lambda a, b: statistics.median(a) / statistics.median(b)
"""
SHELL_ATTACKS = {
    "input_transformer": ("get_ipython().input_transformers_cleanup.append(lambda lines: "
                          "['pass\\n'])",
                          "cleanup_transforms", "release"),
    "post_transformer": ("get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])",
                         "input_transformers_post", "release"),
    "transform_cell": ("get_ipython().transform_cell = lambda cell: 'pass\\n'",
                       "shell.transform_cell", "release"),
    "transform_cell_on_class": ("type(get_ipython()).transform_cell = lambda self, cell: 'pass\\n'",
                                "ZMQInteractiveShell.transform_cell", "release"),
    "ast_transformer": ("import ast\n"
                        "class Lenient(ast.NodeTransformer):\n"
                        "    def visit_Module(self, node):\n"
                        "        handler = ast.ExceptHandler(type=ast.Name('BaseException', "
                        "ast.Load()),\n"
                        "                                    name=None, body=[ast.Pass()])\n"
                        "        node.body = [ast.Try(body=node.body, handlers=[handler], "
                        "orelse=[],\n"
                        "                             finalbody=[])]\n"
                        "        return ast.fix_missing_locations(node)\n"
                        "get_ipython().ast_transformers.append(Lenient())", "ast_transformers",
                        "release"),
    "custom_exception_handler": ("get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
                                 "custom_exceptions", "release"),
    "event_callback": (REBIND + "get_ipython().events.register('pre_run_cell', "
                       "lambda *a: _rebind(get_ipython().user_ns))", "callback <lambda>",
                       "release"),
    "trace_function": (REBIND + "import sys\n"
                       "def tracer(frame, event, arg):\n"
                       "    if event == 'call' and frame.f_code.co_name == '<module>':\n"
                       "        _rebind(frame.f_globals)\n"
                       "sys.settrace(tracer)", "sys.settrace", "release"),
    "background_thread": ("import threading, time, utils.grading\n"
                          "def keep_patching():\n"
                          "    while True:\n"
                          "        utils.grading.assert_answer = lambda *a, **k: None\n"
                          "        time.sleep(0.001)\n"
                          "threading.Thread(target=keep_patching, daemon=True).start()",
                          "started by the submission", "wrong_median"),
    "fake_module": ("import sys, types\n"
                    "fake = types.ModuleType('utils.grading')\n"
                    "fake.assert_answer = lambda *a, **k: None\n"
                    "sys.modules['utils.grading'] = fake", "utils.grading", "wrong_median"),
    "replaced_import": ("import builtins, types\n"
                        "fake = types.ModuleType('utils.grading')\n"
                        "fake.assert_answer = lambda *a, **k: None\n"
                        "_import = builtins.__import__\n"
                        "builtins.__import__ = lambda name, *a, **k: (fake if name == "
                        "'utils.grading'\n"
                        "                                             else _import(name, *a, **k))",
                        "builtins.__import__", "wrong_median"),
    # names the autograder's own calls into the kernel once looked up in the notebook namespace
    "shadowed_names": ("import types\n"
                       "_checks = types.SimpleNamespace(seal=lambda: 1, restore=lambda: [],\n"
                       "                                remember=lambda *a: [])\n"
                       "_fake = types.SimpleNamespace(integrity=_checks)\n"
                       "__import__ = lambda *a, **k: _fake\n"
                       "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])",
                       "cleanup_transforms", "release"),
    "errors_not_sent": ("session = get_ipython().kernel.session\n"
                        "_send = session.send\n"
                        "def send(stream, msg_or_type, *args, **kwargs):\n"
                        "    if msg_or_type == 'error':\n"
                        "        return None\n"
                        "    return _send(stream, msg_or_type, *args, **kwargs)\n"
                        "session.send = send", "kernel.session.send", "release"),
}
# Answers that return an object equal to everything: the strict checks see its type first.
EQUAL_TO_EVERYTHING = """class Anything:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __ge__(self, other):
        return True
    __le__ = __gt__ = __lt__ = __ge__
    __hash__ = object.__hash__
    def __getattr__(self, name):
        return Anything()
    def __call__(self, *args, **kwargs):
        return Anything()
    def __float__(self):
        return 2.0
    def __bool__(self):
        return True
def pick_engine(supported): return Anything()
def count_parameters(model): return Anything()
def state_dict_bytes(model): return Anything()
def conv2d_macs(conv, output_shape): return Anything()
def linear_macs(linear, output_shape): return Anything()
def median_ratio(baseline_times, candidate_times): return Anything()
def width_speedup(x): return Anything()"""


# Attacks on the checker itself (issue 22), each a class that defeated the in-kernel seal: the
# checker's code changed in place, kit classes, torch's mode stack, the seal's own storage, the
# display channel. name -> (code put first in the first answer cell, the lab 00 mutant it rides
# on, or None for the blank release). tests/test_verdict.py grades each with the lab's tests run
# in the kernel (the attack gains points) and in the verdict process (it gains none).
CHECKER_ATTACKS = {
    "displayhook": ("import sys\nsys.displayhook('full marks')", None),
    "code_replaced_in_place": ("import utils.grading\n"
                               "utils.grading.assert_answer.__code__ = "
                               "(lambda *a, **k: None).__code__", "median_ratio/mean"),
    "code_bytes_rewritten": (
        "import ctypes, dis, utils.grading\n"
        "_code = utils.grading.assert_answer.__code__\n"
        "_raw = bytes((ctypes.c_char * _code.__sizeof__()).from_address(id(_code)))\n"
        "_ops = bytes([dis.opmap['RESUME'], 0, dis.opmap['LOAD_CONST'], 0, "
        "dis.opmap['RETURN_VALUE'], 0])\n"
        "ctypes.memmove(id(_code) + _raw.find(_code.co_code[:6]), _ops, len(_ops))",
        "median_ratio/mean"),
    "kit_class_attribute": ("import utils.models\n"
                            "_init = utils.models.BenchmarkCNN.__init__\n"
                            "utils.models.BenchmarkCNN.__init__ = (\n"
                            "    lambda self, width=16, **k: _init(self, width=16, **k))",
                            "width_speedup/swapped"),
    "torch_function_mode": ("import sys, torch\n"
                            "def _in_describe():\n"
                            "    frame = sys._getframe(1)\n"
                            "    while frame and frame.f_code.co_name != 'describe':\n"
                            "        frame = frame.f_back\n"
                            "    return frame is not None\n"
                            "class _SameSize(torch.overrides.TorchFunctionMode):\n"
                            "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
                            "        if func is torch.Tensor.numel and _in_describe():\n"
                            "            return 1\n"
                            "        return func(*args, **(kwargs or {}))\n"
                            "_SameSize().__enter__()", "width_speedup/swapped"),
    "seal_storage_via_gc": ("import gc, utils.grading\n"
                            "_noop = lambda *a, **k: None\n"
                            "for _seal in [o for o in gc.get_objects() "
                            "if type(o).__name__ == 'Seal']:\n"
                            "    for _key, (_owner, _value) in list(_seal.attributes.items()):\n"
                            "        if _value is utils.grading.assert_answer:\n"
                            "            _seal.attributes[_key] = (_owner, _noop)\n"
                            "utils.grading.assert_answer = _noop", "median_ratio/mean"),
}
