"""``python -m autograder throughput``: serial, --jobs and a dask CLI cluster; the projection."""

import pytest

from autograder import throughput


def run(mode, workers, wall, nbgrader, execution, cpu, submissions=4, lab="00_orientation"):
    return throughput.TimedRun(lab=lab, mode=mode, workers=workers, wall_seconds=wall,
                               nbgrader_seconds=nbgrader, execution_seconds=execution,
                               cpu_seconds=cpu, submissions=submissions)


def test_rate_overhead_and_cores_busy():
    serial = run("serial", 1, wall=120, nbgrader=96, execution=72, cpu=140)
    assert serial.per_core_minute == pytest.approx(4 / (140 / 60))   # per CPU minute
    assert serial.per_worker_minute == pytest.approx(2.0)            # 4 in 2 minutes of wall
    assert run("jobs", 2, 60, 96, 72, 140).per_worker_minute == pytest.approx(2.0)
    assert serial.overhead_fraction == pytest.approx(0.25)
    assert serial.cores_busy == pytest.approx(140 / 120)


def test_the_projection_adds_up_each_labs_cost():
    runs = [run("cluster", 2, 1, 1, 1, cpu=120, lab="00_orientation"),  # 2 per core-minute
            run("cluster", 2, 1, 1, 1, cpu=480, lab="05_pipeline")]     # 0.5 per core-minute
    # 1000 students: (0.5 + 2 core-minutes) + 4 unmeasured labs at their mean 1.25
    assert throughput.project_hours(runs, workers=10) == pytest.approx(1000 * 7.5 / 10 / 60)


def test_format_measure_reports_each_way_the_speedups_and_a_labelled_projection():
    runs = [run("serial", 1, 100, 96, 72, 140), run("jobs", 2, 60, 112, 100, 118),
            run("cluster", 2, 64, 112, 100, 125)]
    text = throughput.format_measure(runs, project_on=(64,))
    assert "serial (1 worker)" in text and "--jobs 2" in text and "dask CLI, 2 workers" in text
    assert "--jobs speedup 1.67x, dask CLI cluster 1.56x over serial" in text
    assert "PROJECTION, not a measurement" in text and "1,000 students x 6 labs" in text
    assert f"{throughput.project_hours(runs, 64):.1f} h on 64 workers" in text


@pytest.mark.parametrize("argument, value", [("submissions", 0), ("jobs", 1.5)])
def test_bad_arguments_are_named(argument, value):
    with pytest.raises(ValueError, match=f"{argument} must be a positive int, got"):
        throughput.measure(**{argument: value})


@pytest.mark.notebooks
@pytest.mark.needs("bubblewrap")
def test_measure_grades_three_ways_with_identical_gradebooks():
    runs = throughput.measure(submissions=2, jobs=2, labs=["00_orientation"])
    assert [(r.mode, r.workers) for r in runs] == [("serial", 1), ("jobs", 2), ("cluster", 2)]
    for run_ in runs:
        assert run_.submissions == 2
        assert 0 < run_.execution_seconds < run_.nbgrader_seconds
        assert run_.cpu_seconds > run_.execution_seconds / 2, "the kernels' CPU time is counted"
