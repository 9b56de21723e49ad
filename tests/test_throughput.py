"""``python -m autograder throughput``: serial against parallel grading, and where the time goes."""

import pytest

from autograder import throughput


def run(jobs, wall, nbgrader, execution, cpu, submissions=4):
    return throughput.TimedRun(jobs=jobs, wall_seconds=wall, nbgrader_seconds=nbgrader,
                               execution_seconds=execution, cpu_seconds=cpu,
                               submissions=submissions)


def test_overhead_and_cores_busy():
    serial = run(1, wall=100, nbgrader=96, execution=72, cpu=140)
    assert serial.overhead_fraction == pytest.approx(0.25)
    assert serial.cores_busy == pytest.approx(1.4)


def test_format_measure_reports_both_runs_and_the_speedup():
    result = {"serial": run(1, 100, 96, 72, 140), "parallel": run(2, 60, 112, 100, 118),
              "speedup": 100 / 60}
    text = throughput.format_measure(result)
    assert "jobs=1: 100 s wall; per submission 24.0 s nbgrader, 18.0 s" in text
    assert "(overhead 25 %); 1.40 cores busy" in text
    assert "jobs=2: 60 s wall" in text and "speedup 1.67x with 2 jobs" in text


@pytest.mark.parametrize("argument, value", [("submissions", 0), ("jobs", 1.5)])
def test_bad_arguments_are_named(argument, value):
    with pytest.raises(ValueError, match=f"{argument} must be a positive integer"):
        throughput.measure(**{argument: value})


@pytest.mark.notebooks
@pytest.mark.needs("bubblewrap")
def test_measure_grades_both_ways_with_identical_gradebooks():
    result = throughput.measure(submissions=2, jobs=2, labs=["00_orientation"])
    for run_ in (result["serial"], result["parallel"]):
        assert run_.submissions == 2
        assert 0 < run_.execution_seconds < run_.nbgrader_seconds
        assert run_.cpu_seconds > run_.execution_seconds / 2, "the kernels' CPU time is counted"
    assert result["speedup"] == pytest.approx(result["serial"].wall_seconds
                                              / result["parallel"].wall_seconds)
