from PIL import Image

from ebtlab.plotting import Panel, save_line_plots


def test_panels_saved_side_by_side_as_png(tmp_path):
    panels = [
        Panel("loss against compute", "FLOPs", "loss", {"a": ([1e6, 1e7], [3.0, 2.0]), "b": ([1e6, 1e7], [3.5, 2.5])}, x_log=True),
        Panel("loss against data", "tokens", "loss", {"a": ([10, 20], [3.0, 2.0])}),
    ]
    path = tmp_path / "plot.png"
    save_line_plots(path, panels)
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert width > 2 * height * 0.9
