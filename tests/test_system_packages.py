"""make test on a fresh machine: missing system packages are installed, or named and skipped."""

from types import SimpleNamespace

import pytest

import conftest
import system_packages


def test_problem_names_what_is_wrong_and_rejects_unknown_packages(monkeypatch, tmp_path):
    monkeypatch.setattr(system_packages, "CHROMIUM", tmp_path / "chromium")
    assert system_packages.problem("chromium") == f"Chromium not found at {tmp_path / 'chromium'}"
    with pytest.raises(ValueError, match=r"package must be one of \['bubblewrap', 'chromium'\]"):
        system_packages.problem("firefox")


def test_the_advice_is_one_line_naming_packages_and_the_command():
    line = system_packages.advice({"bubblewrap": "x", "chromium": "y"})
    assert "\n" not in line
    assert "bubblewrap (graded runs" in line and "chromium (the browser tests" in line
    assert "`sudo apt-get install bubblewrap chromium`" in line


class Item(SimpleNamespace):
    def iter_markers(self, name):
        if name != "needs":
            return []
        return [SimpleNamespace(args=(package,)) for package in self.needs]

    def add_marker(self, marker):
        self.added.append(marker)


@pytest.mark.parametrize("ci, skipped", [("", True), ("true", False)])
def test_a_test_needing_a_missing_package_is_skipped_except_in_ci(monkeypatch, ci, skipped):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(conftest, "MISSING", {"chromium": "not found"})
    needs, free = Item(needs=["chromium"], added=[]), Item(needs=[], added=[])
    conftest.pytest_collection_modifyitems(None, [needs, free])
    assert free.added == []
    assert len(needs.added) == skipped
    if skipped:
        assert "chromium" in needs.added[0].kwargs["reason"]


def test_main_fails_in_ci_and_passes_elsewhere_when_a_package_stays_missing(monkeypatch, capsys):
    monkeypatch.setattr(system_packages, "missing", lambda: {"chromium": "not found"})
    monkeypatch.setattr(system_packages, "install_command", lambda packages: [])
    monkeypatch.setenv("CI", "true")
    assert system_packages.main() == 1
    assert "CI=true: nothing may be skipped" in capsys.readouterr().out
    monkeypatch.setenv("CI", "")
    assert system_packages.main() == 0
    assert capsys.readouterr().out.startswith("make test: system packages missing")
