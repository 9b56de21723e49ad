"""Every number in a lab's prose comes from the lab's own outputs (the claims guard of issue 24).

The rule (developer guide): a sentence of a notebook that states a number about the lab's own
results quotes a formatted output and sits next to an assert. This test checks the part a machine
can check: every number in a markdown cell of the executed solution notebook appears, at the
precision the prose gives, in an output or in the code of the same section (a ``## `` heading
starts a section; the introduction and the summary may quote any section). A number in prose that
no cell of its section prints or uses is a figure nobody measured, or one that drifted from the
run (as lab 01's "80 %" did while the run used 90 %).

What is not a result is skipped, each kind named below: formulas (an inline formula that only
relates numbers, "$\\ge 0.1361$", is read as prose) and code spans, cross
references ("section 5", "lab 03", "seed 000"), shapes and sizes ("8x8", "3×3"), bit widths and
dtypes ("8-bit", "int8", "W8A4"), years of citations, and per lab an explicit allowlist of
constants of the method, each with its reason.

A number that matches is not proven right (the asserts next to it do that); a number that does
not match is a claim the notebook cannot back, and this test names it with its cell.
"""

import json
import re
from dataclasses import dataclass

import pytest

from autograder.course import Course
from autograder.labs import manifest

COURSE = Course()
GUARDED = ["00_orientation", "01_pruning", "02_quantization", "03_fx_ptq", "04_fx_qat",
           "05_pipeline"]

# Stripped before numbers are read: formulas and code are the method, not its results.
NOT_PROSE = [
    re.compile(r"`[^`\n]*`"),                  # code spans: names, calls, literals
    re.compile(r"\]\([^)]*\)"),                # link targets
    re.compile(r"<[^>\n]+>"),                  # HTML tags
]

# Numbers that are names, not measurements (each pattern matches the whole phrase, which is
# removed before numbers are read).
NOT_RESULTS = [
    # cross references: "section 5", "sections 3 and 4", "lab 03", "labs 01–04", "seed 000",
    # "Exercise 2", "cell 7", "step 3", "item 2", "seeds 000–003", "issue 24"
    re.compile(r"\b(?:[Ss]ections?|[Ll]abs?|[Ss]eeds?|[Ee]xercises?|[Cc]ells?|[Ss]teps?|[Ii]tems?"
               r"|[Ii]ssues?|[Pp]arts?|[Cc]hapters?|[Ff]igures?|[Tt]ables?)"
               r"\s+\d+(?:\s*(?:[-–,]|and|or|to)\s*\d+)*"),
    re.compile(r"^#+\s*\d+(?:\.\d+)*\.?", re.M),          # heading numbers: "## 3. ..."
    re.compile(r"§\s*\d+(?:\.\d+)*"),                      # sections of a seed: §3.1.3
    re.compile(r"\b\d+\s*[x×]\s*\d+(?:\s*[x×]\s*\d+)*"),  # shapes and sizes: 8x8, 3×3, 5×10
    re.compile(r"\b\d+[- ]bits?\b"),                      # bit widths: 8-bit, 4 bits
    re.compile(r"\b[A-Za-z_]+-?\d+[A-Za-z0-9_]*"),        # identifiers: int8, conv2, W8A4, AVX-512
    re.compile(r"\b(?:19[5-9]\d|20[0-3]\d)[a-z]?\b(?![.,]\d|\s*%|x)"),  # years of citations
    re.compile(r"\b(?:[Pp]y[Tt]orch|torch|torchao|Python|CC BY)\s+\d+(?:\.\d+)*"),   # versions
    re.compile(r"Time:\**\s*(?:about\s*)?\d+(?:\s*[–-]\s*\d+)?\s*(?:minutes|hours)"),  # to read
    re.compile(r"^\s*(?:\d+\.|[-*])\s", re.M),            # numbered-list markers
    re.compile(r"\([a-z0-9]\)"),                          # enumerations (1), (a)
]

# A number in prose: 1,438 · 99.44 · 0.1599 · 2.58x · 90 % · −0.06.
NUMBER = re.compile(r"(?<![\w.])[-−]?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:\s*(%|x\b|×))?")
# Any number in an output or in code (a looser reading: 1e-3 and 0.5 both count).
ANY_NUMBER = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:[eE]([-+]?\d+))?")

@dataclass(frozen=True)
class Finding:
    lab: str
    cell: int
    number: str
    context: str

    def __str__(self):
        return f"{self.lab} cell {self.cell}: {self.number!r} in “…{self.context}…”"


# Inline formulas are the method (stripped), unless they state a value: "$\\ge 0.1361$",
# "$1/32 \\approx 3\\,\\%$" (only numbers before an inequality or an approximation) are read
# as the number after it; "$h \\ge 0.5$" or "$5^5 = 3125$" are formulas.
INLINE_MATH = re.compile(r"\$([^$\n]+)\$")
RELATION = re.compile(r"\\(?:geq?|leq?|approx|sim)(?![A-Za-z])|[<>]")


def _inline_math(match):
    blank = " " * len(match.group(0))
    parts = RELATION.split(match.group(1))
    value = re.sub(r"\\[,;!]|[{}]", " ", parts[-1]).replace("\\%", "%")
    if len(parts) == 1 or any(re.search(r"[A-Za-z\\=]", part) for part in parts[:-1]) or \
            re.search(r"[A-Za-z\\]", value):
        return blank
    return (blank[:-len(value)] + value)[:len(blank)] if len(value) <= len(blank) else blank


def prose_numbers(text):
    """(text of the number, value, decimals, is_percent, start) of each result-like number."""
    text = re.sub(r"\$\$.*?\$\$", lambda m: " " * len(m.group(0)), text, flags=re.S)
    text = INLINE_MATH.sub(_inline_math, text)
    for pattern in NOT_PROSE + NOT_RESULTS:
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    for m in NUMBER.finditer(text):
        whole, frac, unit = m.group(1), m.group(2) or "", m.group(3)
        value = float(whole.replace(",", "") + frac)
        yield m.group(0).strip(), value, max(len(frac) - 1, 0), unit == "%", m.start(), text


def source(cell):
    return "".join(cell["source"])


def is_test(cell):
    """A graded test cell: all of it is checks (its expected values are asserted)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def asserts(source):
    """The assert statements of a code cell's source (with their continuation lines)."""
    lines = "".join(source).splitlines()
    found, inside = [], 0
    for line in lines:
        if re.match(r"\s*(assert\b|assert_\w+\()", line):
            inside = 1
        elif inside and (line.startswith((" ", "\t")) and line.strip()):
            inside += 1
        else:
            inside = 0
        if inside:
            found.append(line)
    return found


def evidence_numbers(cells):
    """Every number printed by, or written in an assert of, `cells`."""
    values = set()
    for cell in cells:
        texts = []
        if cell["cell_type"] == "code":
            texts += [source(cell)] if is_test(cell) else asserts(cell["source"])
            for out in cell.get("outputs", []):
                texts.append("".join(out.get("text", "")))
                texts.append("".join(out.get("data", {}).get("text/plain", "")))
        for text in texts:
            for m in ANY_NUMBER.finditer(re.sub(r"(?<=\d)_(?=\d)", "", text)):   # 10_000 is 10000
                value = float(m.group(1).replace(",", "") + (m.group(2) or ""))
                values.add(value * 10 ** int(m.group(3)) if m.group(3) else value)
    return values


def backed(value, decimals, percent, evidence):
    """Whether some number of `evidence`, rounded as the prose rounds, is `value` (a percentage
    may also be printed as a fraction: 90 % is 0.9)."""
    scale = 10 ** decimals
    for y in evidence:
        for candidate in ((y, y * 100) if percent else (y,)):
            if round(candidate * scale) == round(value * scale):
                return True
    return False


def sections(cells):
    """[(first cell index, cells)] split at level-2 markdown headings."""
    starts = [0] + [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
                    and source(c).lstrip().startswith("## ")]
    starts = sorted(set(starts))
    return [(a, cells[a:b]) for a, b in zip(starts, starts[1:] + [len(cells)])]


def findings(notebook, lab, allowed=None):
    """The numbers of `notebook`'s prose that no output or code of their section backs."""
    allowed = manifest(lab).claim_constants if allowed is None else allowed
    cells = notebook["cells"]
    everything = evidence_numbers(cells)
    result = []
    parts = sections(cells)
    for k, (first, part) in enumerate(parts):
        head = source(part[0]).lstrip().lower()
        whole_notebook = k == 0 or head.startswith("## summary")   # introduction and summary
        evidence = everything if whole_notebook else evidence_numbers(part)
        for offset, cell in enumerate(part):
            if cell["cell_type"] != "markdown":
                continue
            for text, value, decimals, percent, start, clean in prose_numbers(source(cell)):
                if text.lstrip("-−") in allowed or backed(value, decimals, percent, evidence):
                    continue
                context = " ".join(clean[max(start - 50, 0):start + 30].split())
                result.append(Finding(lab, first + offset, text, context))
    return result


def solution(lab):
    return json.loads(COURSE.solution_notebook(lab).read_text())


@pytest.mark.parametrize("lab", GUARDED)
def test_every_number_in_prose_is_an_output_of_its_section(lab):
    found = findings(solution(lab), lab)
    assert not found, (f"{len(found)} numbers in {lab}'s prose that no output or assert of their "
                       f"section shows:\n" + "\n".join(map(str, found)))


def test_an_unasserted_number_is_caught():
    """A number planted in a section's prose that none of its outputs prints is a finding; the
    same number printed by a cell of that section is not."""
    nb = solution("01_pruning")
    first, part = sections(nb["cells"])[1]
    planted = {"cell_type": "markdown", "metadata": {}, "source": "Pruning keeps 97.31 % here."}
    nb["cells"].insert(first + 1, planted)
    assert [f.number for f in findings(nb, "01_pruning")] == ["97.31 %"]
    printed = {"cell_type": "code", "metadata": {}, "source": "", "execution_count": 1,
               "outputs": [{"output_type": "stream", "name": "stdout", "text": "kept 0.9731\n"}]}
    nb["cells"].insert(first + 2, printed)
    assert findings(nb, "01_pruning") == []


def test_names_and_formulas_are_not_claims():
    text = ("## 3. Section 5 of lab 03 (seed 000, 1989) prunes conv2 of the 8x8 digits to 8-bit "
            "int8 weights, $k = 0.5 n$, `round(2.5)`.")
    assert [t for t, *_ in prose_numbers(text)] == []
    assert [t for t, *_ in prose_numbers("It reaches 98.61 % at 2.58x, 17 times finer.")] == \
        ["98.61 %", "2.58x", "17"]
    assert [t for t, *_ in prose_numbers(r"The survivors are all $\ge 0.1361$, $\approx 3\,\%$.")] \
        == ["0.1361", "3 %"]


def test_only_outputs_and_asserts_back_a_number():
    """A number the code merely uses (a constant, a parameter) backs nothing; printed or asserted,
    it does."""
    def notebook(code, outputs=()):
        return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "## 1. A section"},
                          {"cell_type": "markdown", "metadata": {}, "source": "It is 0.75 here."},
                          {"cell_type": "code", "metadata": {}, "source": code,
                           "outputs": [{"output_type": "stream", "text": t} for t in outputs]}]}

    assert len(findings(notebook("ratio = 0.75\nrun(ratio)"), "none", allowed={})) == 1
    assert findings(notebook("run()", ["ratio 0.750\n"]), "none", allowed={}) == []
    assert findings(notebook("assert abs(ratio - 0.75) < 0.01"), "none", allowed={}) == []
    assert findings(notebook("assert ok(ratio,\n          0.75)"), "none", allowed={}) == []
