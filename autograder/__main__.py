"""The instructor's commands: ``python -m autograder <command> [lab ...]``.

release              regenerate labs/ from solutions/ and say what changed
execute-solutions    re-execute the worked solutions in place (outputs committed)
check                release + autograde the solution and the untouched release in a scratch
                     course; print per-cell scores (solution: full marks, release: zero)
mutants              run each lab's wrong answers against its tests; all must be caught
"""

import argparse
import subprocess
import sys
import tempfile

from . import course


def cmd_release(labs):
    course.release(labs)
    changed = subprocess.run(["git", "status", "--short", "--", "labs"], cwd=course.REPO,
                             capture_output=True, text=True).stdout
    print(changed or "labs/ is unchanged: the release already matched solutions/")
    return 0


def cmd_execute_solutions(labs):
    for lab in labs:
        print(f"executing {course.solution_notebook(lab)}")
        course.execute_in_place(course.solution_notebook(lab))
    return 0


def cmd_check(labs):
    failures = 0
    for lab in labs:
        with tempfile.TemporaryDirectory() as tmp:
            scores = course.check_lab(lab, tmp)
        for student, cells in scores.items():
            print(f"{lab} / {student}:")
            for grade_id, (score, max_score) in cells.items():
                print(f"  {grade_id:40s} {score:g} / {max_score:g}")
        failures += sum(s != m for s, m in scores["solution"].values())
        failures += sum(s != 0 for s, _ in scores["release"].values())
    print("OK" if not failures else f"{failures} cells scored unexpectedly")
    return int(failures > 0)


def cmd_mutants(labs):
    from .mutants import lab_mutants
    from .mutation import run_mutants

    missed = 0
    for lab in labs:
        for result in run_mutants(course.solution_notebook(lab), lab_mutants(lab)):
            status = "caught" if result.caught else "MISSED"
            missed += not result.caught
            print(f"{lab}: {status:7s} {result.mutant.caught_by:30s} {result.mutant.why}")
    return int(missed > 0)


COMMANDS = {"release": cmd_release, "execute-solutions": cmd_execute_solutions,
            "check": cmd_check, "mutants": cmd_mutants}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("labs", nargs="*", help="lab names (default: every lab in solutions/)")
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args.labs or course.lab_names())


if __name__ == "__main__":
    sys.exit(main())
