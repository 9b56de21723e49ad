"""``python -m autograder``: every instructor command is there, and bad input gets a clear error."""

import pytest

from autograder.__main__ import main, parser


def test_every_instructor_command_is_offered():
    commands = parser()._subparsers._group_actions[0].choices
    assert {"release", "collect", "autograde", "feedback", "export"} <= set(commands)


@pytest.mark.parametrize("argv, message", [
    (["autograde", "99_nolab"], "labs must be among"),
    (["autograde", "00_orientation", "--jobs", "0"], "jobs must be a positive int, got 0"),
    (["autograde", "00_orientation", "--timeout", "-5"], "timeout must be a positive"),
    pytest.param(["autograde", "00_orientation", "--student", "nobody"],
                 "no submission of 00_orientation", marks=pytest.mark.needs("bubblewrap")),
    (["collect", "/nonexistent/folder", "00_orientation"], "folder"),
])
def test_bad_input_is_a_usage_error_naming_the_argument(argv, message, capsys, monkeypatch):
    from autograder import gradebook
    # never touch the real gradebook: a bad call must fail before grading anything
    monkeypatch.setattr(gradebook, "backup", lambda *a, **k: None)
    monkeypatch.setattr(gradebook, "ensure_lab", lambda *a, **k: None)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_feedback_without_labs_covers_only_the_graded_labs(capsys, monkeypatch):
    from autograder import feedback
    made = []
    monkeypatch.setattr(feedback, "graded_students",
                        lambda course, lab: ["alice"] if lab == "01_pruning" else [])
    monkeypatch.setattr(feedback, "generate_feedback",
                        lambda lab, students=None, course=None: made.append(lab) or [f"{lab}.html"])
    assert main(["feedback"]) == 0
    assert made == ["01_pruning"]
    monkeypatch.setattr(feedback, "graded_students", lambda course, lab: [])
    with pytest.raises(SystemExit) as exit_:
        main(["feedback"])
    assert exit_.value.code == 2 and "nothing graded yet" in capsys.readouterr().err


SUBMITTED = {"00_orientation": ["alice", "bob"], "01_pruning": ["alice"]}


@pytest.mark.parametrize("students, every_lab, expected", [
    (None, True, [("00_orientation", "alice"), ("00_orientation", "bob"), ("01_pruning", "alice")]),
    (["bob"], True, [("00_orientation", "bob")]),                  # the labs bob submitted
    (["alice", "alice"], True, [("00_orientation", "alice"), ("01_pruning", "alice")]),
    (["bob", "alice"], False, None),                               # bob has no 01_pruning
])
def test_one_student_or_all_one_lab_or_all(students, every_lab, expected):
    from autograder.autograde import chosen_submissions
    if expected is None:
        with pytest.raises(ValueError,
                           match=r"students \['bob'\] have no submission of 01_pruning"):
            chosen_submissions(SUBMITTED, students, every_lab)
    else:
        assert chosen_submissions(SUBMITTED, students, every_lab) == expected


def test_a_student_with_no_submission_at_all_is_named():
    from autograder.autograde import chosen_submissions
    with pytest.raises(ValueError, match=r"students \['carol'\] have no submission of any lab"):
        chosen_submissions(SUBMITTED, ["alice", "carol"], every_lab=True)
    with pytest.raises(TypeError, match="students: give a list"):
        chosen_submissions(SUBMITTED, "alice")
