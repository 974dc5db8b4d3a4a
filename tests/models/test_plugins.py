"""Model plugins: @edgekit.register_model, --model-module, entry points, and the one-line errors of bad plugins."""

import json
import sys
import textwrap

import pytest
import torch
from plugin_helpers import TINY_MODULE, plugin_distribution, run

import edgekit
from edgekit.bench.gate import exit_code, untraceable
from edgekit.core.errors import EdgekitError, UntraceableModel
from edgekit.models import MODELS, resolve
from edgekit.models.build import create, preprocessing
from edgekit.models.checkpoint import ModelDescription, load_checkpoint, save_checkpoint
from edgekit.models.head import classifier_modules


@pytest.fixture
def throwaway(tmp_path):
    """Models registered by a test are unregistered after it, and the modules it wrote in tmp_path forgotten."""
    models, path = set(MODELS.names()), list(sys.path)
    yield
    for name in set(MODELS.names()) - models:
        MODELS.remove(name)
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]
    sys.path[:] = path


def tiny(num_classes: int, img_size: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.Flatten(1),
                               torch.nn.Linear(8 * (img_size // 2) ** 2, num_classes))


def test_a_decorated_factory_is_a_registered_model(throwaway):
    factory = edgekit.register_model(tiny, name="plugin_tiny", family="tinynet", img_size=16, img_multiple=8,
                                     mean=(0.5, 0.5, 0.5), std=[0.25] * 3, interpolation="bilinear",
                                     aliases=("plugin-tiny-alias",))
    assert factory is tiny
    spec = resolve("plugin-tiny-alias")
    assert spec.name == "plugin_tiny" and "plugin_tiny" in MODELS.names() and spec.family == "tinynet"
    assert spec.plugin and spec.timm_id is None and spec.source == __name__
    assert spec.arch == f"{__name__}:tiny" and spec.img_multiple == 8
    model = create(spec, 7, 16)
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 7) and not model.training
    prep = preprocessing(model)
    assert prep.mean == (0.5, 0.5, 0.5) and prep.std == (0.25, 0.25, 0.25) and prep.interpolation == "bilinear"
    assert classifier_modules(model) == [model[2]]  # no get_classifier(): the last Linear is the head


def test_bare_decorator_takes_the_function_and_module_names(throwaway):
    @edgekit.register_model
    def plugin_bare(num_classes, img_size, drop_path_rate=0.0, pretrained=False):
        plugin_bare.seen = (drop_path_rate, pretrained)
        return tiny(num_classes, img_size)

    spec = resolve("plugin_bare")
    assert spec.family == "test_plugins" and spec.img_size == 224
    create(spec, 3, 32, drop_path=0.1)
    assert plugin_bare.seen == (0.1, False)  # --drop-path reaches a factory that takes drop_path_rate
    create(spec, 3, 32, pretrained=True)
    assert plugin_bare.seen == (0.0, True)


def test_pretrained_needs_a_factory_that_takes_it(throwaway):
    edgekit.register_model(tiny, name="plugin_untrained")
    with pytest.raises(EdgekitError, match="has no pretrained weights .* --weights PATH"):
        create(resolve("plugin_untrained"), 3, 32, pretrained=True)


def test_a_factory_must_return_a_module(throwaway):
    @edgekit.register_model
    def plugin_not_a_module(num_classes, img_size):
        return {"num_classes": num_classes}

    with pytest.raises(EdgekitError, match=r"plugin_not_a_module: its factory .*:.*plugin_not_a_module returned dict, "
                                           r"not a torch.nn.Module"):
        create(resolve("plugin_not_a_module"), 3, 32)


def test_a_failing_factory_is_one_line_naming_it(throwaway):
    @edgekit.register_model
    def plugin_fails(num_classes, img_size):
        raise ValueError(f"no {img_size} px variant\nsecond line")

    with pytest.raises(EdgekitError) as caught:
        create(resolve("plugin_fails"), 3, 48)
    assert "plugin_fails failed for 3 classes at 48 px (ValueError: no 48 px variant)" in str(caught.value)


def test_a_name_registered_twice_names_both_registrants(throwaway):
    with pytest.raises(EdgekitError, match="model 'resnet18' is registered twice: by edgekit's timm zoo and by "
                                           f"'{__name__}:tiny'"):
        edgekit.register_model(tiny, name="resnet18")
    edgekit.register_model(tiny, name="plugin_once")

    def other(num_classes, img_size):
        return tiny(num_classes, img_size)

    with pytest.raises(EdgekitError, match=f"'plugin_once' is registered twice: by '{__name__}:tiny' and by "
                                           f"'{__name__}:.*other'"):
        edgekit.register_model(other, name="plugin_once")
    with pytest.raises(EdgekitError, match="registered twice"):
        edgekit.register_model(other, name="plugin_other", aliases=("plugin_once",))
    assert "plugin_other" not in MODELS.names()


@pytest.mark.parametrize("kwargs, fragment", [
    ({"mean": (0.5, 0.5)}, "mean must be 3 numbers"),
    ({"std": (0.5, 0.0, 0.5)}, "std must be positive"),
    ({"img_size": 30, "img_multiple": 8}, "img_size 30 is not a multiple of img_multiple 8"),
    ({"interpolation": "cubic"}, "interpolation must be one of"),
    ({"crop_pct": 1.5}, "crop_pct must be in (0, 1]"),
    ({"name": "my model"}, "is not a model name"),
])
def test_bad_metadata_is_one_line_naming_the_factory(throwaway, kwargs, fragment):
    with pytest.raises(EdgekitError) as caught:
        edgekit.register_model(tiny, **kwargs)
    assert fragment in str(caught.value) and f"{__name__}:tiny" in str(caught.value)


def test_a_factory_without_num_classes_and_img_size_is_refused(throwaway):
    def no_arguments():
        return tiny(3, 32)

    with pytest.raises(EdgekitError, match=r"must take \(num_classes, img_size, \*\*kwargs\)"):
        edgekit.register_model(no_arguments)


def test_model_module_registers_and_lists_a_file_of_models(throwaway, tmp_path, cli_fast, monkeypatch):
    import edgekit.models.catalog as catalog

    class PluginsOnly:  # list the plugin only: the zoo's 40 rows cost a cold cache half a minute
        def items(self):
            return [(name, spec) for name, spec in MODELS.items()
                    if spec.plugin and not spec.source.startswith("edgekit.models.families.")]

        def __len__(self):
            return len(self.items())

    monkeypatch.setattr(catalog, "MODELS", PluginsOnly())
    (tmp_path / "listed_models.py").write_text(TINY_MODULE.format(name="plugin_listed"))
    result = cli_fast("models", "--json", "--model-module", str(tmp_path / "listed_models.py"))
    assert result.returncode == 0, result.stderr
    row = next(r for r in json.loads(result.stdout) if r["name"] == "plugin_listed")
    assert row["family"] == "tinynet" and row["timm_id"] is None and row["source"] == "listed_models"
    assert row["img_size"] == 32 and row["params"] == 3 * 8 * 9 + 8 + 8 * 1000 + 1000 and row["macs"] > 0
    table = cli_fast("models", "--model-module", str(tmp_path / "listed_models.py"))
    assert table.returncode == 0 and "plugin_listed tinynet plugin listed_models   32" in table.stdout + table.stderr


def test_model_module_that_fails_to_import_is_one_line_exit_2(throwaway, tmp_path, cli_fast):
    (tmp_path / "broken_models.py").write_text("import torch\nimport not_installed_dependency\n")
    result = cli_fast("compress", "test_effnet", "--model-module", "broken_models", "--data", "synthetic",
                      "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("edgekit: error: model plugin 'broken_models' (--model-module) failed to import: "
                                     "ModuleNotFoundError: No module named 'not_installed_dependency'")
    assert not (tmp_path / "run").exists()
    missing = cli_fast("models", "--model-module", "no/such/file.py")
    assert missing.returncode == 2 and "--model-module 'no/such/file.py': no such file" in missing.stderr


def test_a_checkpoint_of_a_plugin_model_imports_its_module_again(throwaway, tmp_path, monkeypatch):
    (tmp_path / "reloaded_models.py").write_text(TINY_MODULE.format(name="plugin_reloaded"))
    monkeypatch.syspath_prepend(str(tmp_path))
    import reloaded_models  # noqa: F401 - registers plugin_reloaded

    spec = resolve("plugin_reloaded")
    model = create(spec, 4, 32)
    save_checkpoint(tmp_path / "ckpt", model, ModelDescription(model=spec.name, timm_id=None, num_classes=4,
                                                               img_size=32, source=spec.source))
    MODELS.remove("plugin_reloaded")  # a fresh process: nothing registered it yet
    del sys.modules["reloaded_models"]
    rebuilt, description = load_checkpoint(tmp_path / "ckpt")
    assert description.source == "reloaded_models" and "plugin_reloaded" in MODELS.names()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(rebuilt(x), model(x))
    MODELS.remove("plugin_reloaded")
    del sys.modules["reloaded_models"]
    sys.path.remove(str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(EdgekitError, match="model plugin 'reloaded_models' \\(the module checkpoint '.*ckpt' was "
                                           "built with\\) failed to import: ModuleNotFoundError"):
        load_checkpoint(tmp_path / "ckpt")


def test_a_plugin_that_fails_to_import_is_one_line_exit_2(tmp_path):
    plugin_distribution(tmp_path, "broken-plugin", "broken_plugin.models",
                        textwrap.dedent("""\
                            import edgekit
                            raise RuntimeError("this plugin needs CUDA 13\\nand more")
                        """))
    result = run(tmp_path, "models")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("edgekit: error: model plugin 'broken-plugin' (entry point broken_plugin.models) "
                                     "failed to import: RuntimeError: this plugin needs CUDA 13")
    debug = run(tmp_path, "models", debug=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "broken_plugin/models.py" in debug.stderr


def test_two_plugins_registering_one_name_is_one_line_exit_2(tmp_path):
    for name in ("first-plugin", "second-plugin"):
        module = f"{name.replace('-', '_')}.models"
        plugin_distribution(tmp_path, name, module, TINY_MODULE.format(name="twin"))
    result = run(tmp_path, "models", "--json")
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "model 'twin' is registered twice: by " in line
    assert "first_plugin.models:twin" in line and "second_plugin.models:twin" in line


class Branchy(torch.nn.Module):
    """Python control flow on a tensor's value: TorchScript tracing bakes one branch in, torch.export refuses."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.conv(x)
        if x.mean() > 0:
            x = x.relu()
        return self.fc(x.mean((2, 3)))


def test_a_model_that_cannot_be_traced_fails_each_format_naming_the_line(throwaway, tmp_path):
    from edgekit.core.recipe import load_recipe
    from edgekit.pipeline import run

    edgekit.register_model(lambda num_classes, img_size: Branchy(num_classes), name="plugin_branchy", img_size=32)
    report, _ = run(load_recipe(None, dict(model="plugin_branchy", data="synthetic", epochs=0, bench=False,
                                           formats="onnx,tflite,pte", out=tmp_path / "run", parity_samples=8))[0])
    assert not report["ok"]
    errors = {a["format"]: a["error"] for a in report["artifacts"]}
    guard = "GuardOnDataDependentSymNode: Could not guard on data-dependent expression"
    assert errors["tflite"].startswith(f"export failed: the model cannot be traced for tflite: {guard}")
    assert errors["pte"].startswith(f"export failed: the model cannot be traced for pte: {guard}")
    # TorchScript traced one branch: parity catches it, and the error says why
    assert errors["onnx"].startswith("parity failed") and f"dynamo exporter failed ({guard}" in errors["onnx"]
    for fmt, error in errors.items():
        assert "(at test_plugins.py:" in error and "in forward: if x.mean() > 0:)" in error, (fmt, error)
        assert "\x1b" not in error
    # the user's model must change: exit code 2, with one line naming the formats, the cause and the line
    assert exit_code(report) == 2
    line = untraceable(report)
    assert line.startswith(f"plugin_branchy cannot be traced for tflite, pte: {guard}") and len(line.splitlines()) == 1
    assert "(at test_plugins.py:" in line and "in forward: if x.mean() > 0:)" in line


def test_an_untraceable_plugin_stops_before_its_teacher_trains(throwaway, tmp_path, capsys):
    from edgekit.core.recipe import load_recipe
    from edgekit.pipeline import run

    edgekit.register_model(lambda num_classes, img_size: Branchy(num_classes), name="plugin_branchy", img_size=32)
    recipe = load_recipe(None, dict(model="plugin_branchy", data="fashion-mnist", subset=64, epochs=3, int8=True,
                                    formats="onnx,tflite", out=tmp_path / "run", bench=False))[0]
    with pytest.raises(UntraceableModel) as raised:
        run(recipe)
    message = str(raised.value)
    assert raised.value.exit_code == 2 and len(message.splitlines()) == 1
    assert message.startswith("plugin_branchy: the model cannot be traced for int8, tflite (checked before training)")
    assert "in forward: if x.mean() > 0:)" in message
    printed = capsys.readouterr()
    assert "epoch 1/" not in printed.err + printed.out  # no training was started
    assert "def forward" not in printed.err + printed.out  # torch's partial graph dump is not shown
