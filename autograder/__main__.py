"""The instructor's commands: ``python -m autograder <command> ...`` (or the make targets).

From student notebooks to grades, one command each:

  release              regenerate labs/ from solutions/ and say what changed
  collect SOURCE LAB   import LAB's submissions from a per-student folder or a learning-platform zip
  autograde [LAB ...]  grade the collected submissions not graded yet (--jobs N workers, or
                       --scheduler tcp://HOST:PORT of a running Dask cluster)
  feedback [LAB ...]   HTML feedback per student, hidden tests removed
  export               grades CSV, plus a per-exercise summary (table and plot)
  student-kit          the zip students get: labs, utils, data, set-up; no solutions or hidden tests

For the kit's maintainers:

  execute-solutions    re-execute the worked solutions in place (outputs committed)
  check                grade each lab's solution (full marks) and release (zero) in a scratch course
  cpu-classes          the same under each CPU class up to this machine's (AVX2 ... AMX), as a table
  mutants              run each lab's wrong answers against its tests; all must be caught
  throughput           submissions per core-minute, serial and on Dask; a whole course projected
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from . import student_kit
from .course import Course, execute_in_place

__all__ = ["parser", "main"]


def cmd_release(args: argparse.Namespace) -> int:
    changes = Course().release(args.labs)
    print("\n".join(f"labs/{line}" for line in changes)
          or "labs/ is unchanged: the release already matched solutions/")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from . import collect

    source = Path(args.source)
    if source.is_file():
        result = collect.collect_zip(source, args.lab,
                                     regexp=args.regexp or collect.DEFAULT_ZIP_REGEXP)
    else:
        result = collect.collect_folder(source, args.lab)
    print(collect.format_collect_result(result))
    return 0


def cmd_autograde(args: argparse.Namespace) -> int:
    from .autograde import autograde, format_outcomes

    course = Course()
    outcomes = autograde(args.labs, args.student, course=course, jobs=args.jobs,
                         timeout=args.timeout, limit=args.limit,
                         unsafe_no_sandbox=args.unsafe_no_sandbox, scheduler=args.scheduler,
                         force=args.force, progress=True)
    print(format_outcomes(outcomes))
    failed = [o for o in outcomes if o.status != "graded"]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} submissions graded in this run; "
          f"reports in {course.reports_folder}")
    return int(bool(failed))


def cmd_feedback(args: argparse.Namespace) -> int:
    from .feedback import generate_feedback, graded_students

    course = Course()
    labs = args.labs or [lab for lab in course.lab_names() if graded_students(course, lab)]
    if not labs:
        raise FileNotFoundError("nothing graded yet: run autograde first")
    for lab in labs:
        for path in generate_feedback(lab, args.student, course=course):
            print(path)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from . import export

    course = Course()
    export.export_grades(args.csv, course)
    rows = export.exercise_summary(course)
    export.write_summary(rows, args.summary_csv, args.summary_png)
    print(export.format_summary(rows))
    print(f"grades: {args.csv}\nper-exercise summary: {args.summary_csv}, {args.summary_png}")
    return 0


def cmd_student_kit(args: argparse.Namespace) -> int:
    allowed = student_kit.build(args.output)
    with zipfile.ZipFile(args.output) as archive:
        count = len(archive.namelist())
    print(f"{args.output}: {count} files, {Path(args.output).stat().st_size / 1e6:.1f} MB; no "
          f"hidden-test or solution text, except the reference implementations in utils/:")
    print("\n".join(f"  {leak}" for leak in allowed) or "  none")
    return 0


def cmd_execute_solutions(args: argparse.Namespace) -> int:
    course = Course()
    for lab in args.labs or course.lab_names():
        print(f"executing {course.solution_notebook(lab)}")
        execute_in_place(course.solution_notebook(lab))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .scratch import grade_solution_and_release

    failures = 0
    for lab in args.labs or Course().lab_names():
        with tempfile.TemporaryDirectory() as tmp:
            scores = grade_solution_and_release(lab, tmp)
        for student, cells in scores.items():
            print(f"{lab} / {student}:")
            for grade_id, (score, max_score) in cells.items():
                print(f"  {grade_id:40s} {score:g} / {max_score:g}")
        failures += sum(s != m for s, m in scores["solution"].values())
        failures += sum(s != 0 for s, _ in scores["release"].values())
    print("OK" if not failures else f"{failures} cells scored unexpectedly")
    return int(failures > 0)


def cmd_cpu_classes(args: argparse.Namespace) -> int:
    from .cpu_classes import all_as_expected, check_every_class

    results = check_every_class(args.labs or Course().lab_names())
    return int(not all_as_expected(results))


def cmd_mutants(args: argparse.Namespace) -> int:
    from .labs import manifest
    from .mutation import run_mutants

    course = Course()
    missed = 0
    for lab in args.labs or course.lab_names():
        for result in run_mutants(course.solution_notebook(lab), manifest(lab).mutants):
            status = "caught" if result.caught else "MISSED"
            missed += not result.caught
            print(f"{lab}: {status:7s} {result.mutant.caught_by:30s} {result.mutant.why}")
    return int(missed > 0)


def cmd_throughput(args: argparse.Namespace) -> int:
    from .throughput import format_measure, measure

    print(format_measure(measure(args.submissions, args.jobs, args.labs), tuple(args.project_on)))
    return 0


def parser() -> argparse.ArgumentParser:
    grading = Course().grading_folder
    main = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main.add_subparsers(dest="command", required=True, metavar="command")

    def command(name, function, help, labs=True):
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(function=function)
        if labs:
            sub.add_argument("labs", nargs="*", help="lab names (default: every lab)")
        return sub

    command("release", cmd_release, "regenerate labs/ from solutions/")
    collect = command("collect", cmd_collect, "import submissions (originals are never modified)",
                      labs=False)
    collect.add_argument("source", help="a folder with one sub-folder per student, or a zip "
                                        "exported by a learning platform")
    collect.add_argument("lab", help="the lab the submissions are for, e.g. 01_pruning")
    collect.add_argument("--regexp", help="for a zip: file-name pattern with named groups "
                                          "student_id and file_id (see autograder/collect.py)")
    grade = command("autograde", cmd_autograde, "autograde collected submissions")
    grade.add_argument("--student", action="append",
                       help="grade only this student (repeatable; default: every submission)")
    grade.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="Dask workers started on this machine, each grading one submission "
                            "at a time (default: the number of CPU cores)")
    grade.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="grade on the running Dask cluster of this scheduler instead (its "
                            "workers need the kit and the course at the same paths, and "
                            "bubblewrap; see autograder/slurm.py)")
    grade.add_argument("--force", action="store_true",
                       help="grade again the submissions the gradebook already holds (default: "
                            "grade only what is missing, e.g. after an interrupted run)")
    grade.add_argument("--timeout", type=float, help="seconds per cell (default: 120, "
                                                     "nbgrader_config.py)")
    grade.add_argument("--limit", type=float, help="seconds per submission, wall clock "
                       f"(default: {Course().wall_clock_limit:g}, nbgrader_config.py)")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="UNSAFE: run each kernel as you, seeing every file (gradebook, "
                            "solutions) and the network, instead of in a bubblewrap sandbox; only "
                            "for trusted notebooks on a machine without bubblewrap")
    feedback = command("feedback", cmd_feedback, "HTML feedback, hidden tests removed (default: "
                       "every lab with autograded submissions)")
    feedback.add_argument("--student", action="append", help="only this student (repeatable)")
    export = command("export", cmd_export, "grades CSV and the per-exercise summary", labs=False)
    export.add_argument("--csv", default=grading / "grades.csv", help="grades CSV path")
    export.add_argument("--summary-csv", default=grading / "exercise_summary.csv")
    export.add_argument("--summary-png", default=grading / "exercise_summary.png")
    kit = command("student-kit", cmd_student_kit, "the student kit zip: labs, utils, data and "
                  "set-up; no solutions, hidden tests or autograder", labs=False)
    kit.add_argument("--output", type=Path, default=student_kit.DEFAULT_OUTPUT,
                     help="where to write the zip (default: %(default)s)")
    command("execute-solutions", cmd_execute_solutions, "re-execute the worked solutions in place")
    command("check", cmd_check, "solution full marks, release zero, in a scratch course")
    command("cpu-classes", cmd_cpu_classes, "check under each emulated CPU class, as a table")
    command("mutants", cmd_mutants, "every wrong answer is caught by its test cell")
    throughput = command("throughput", cmd_throughput, "submissions per core-minute: serial, "
                         "--jobs, and a dask scheduler + workers; projected to a whole course")
    throughput.add_argument("--submissions", type=int, default=8, help="per lab and way")
    throughput.add_argument("--jobs", type=int, default=2, help="workers of the two clusters")
    throughput.add_argument("--project-on", type=int, nargs="+", default=[2, 64, 256],
                            metavar="W", help="worker counts of the projection")
    return main


def main(argv: Sequence[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    try:
        return args.function(args)
    except (ValueError, RuntimeError, FileNotFoundError) as error:   # a clear message, no traceback
        cli.error(str(error))


if __name__ == "__main__":
    sys.exit(main())
