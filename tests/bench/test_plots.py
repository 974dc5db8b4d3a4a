from doubles import lognormal, make_artifact

from edgekit.bench.plots import accuracy_latency_plot, latency_plot, pareto_front


def test_pareto_front_keeps_only_undominated_points():
    points = [(10.0, 80.0), (5.0, 78.0), (12.0, 79.0), (5.0, 70.0), (20.0, 81.0), (4.0, 60.0)]
    assert pareto_front(points) == [5, 1, 0, 4]


def test_plots_are_written(tmp_path, rng):
    entries = [dict(make_artifact(fmt, samples=lognormal(rng, ms, 30), top1=top1), label="m")
               for fmt, ms, top1 in (("onnx", 5.0, 80.0), ("tflite", 6.0, 79.0), ("pte", 4.0, 81.0))]
    assert latency_plot(entries, tmp_path / "latency.png", "t").stat().st_size > 1000
    assert accuracy_latency_plot(entries, tmp_path / "acc.png", "t").stat().st_size > 1000
    assert accuracy_latency_plot([dict(e, accuracy=None) for e in entries], tmp_path / "none.png", "t") is None
