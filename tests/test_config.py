import pytest

from pointseg.config import ConfigError, apply_overrides, load_config, parse_overrides

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_dotted_overrides_are_merged_and_typed():
    cfg = load_config(ROOT / "configs" / "cpu_demo.yaml", ["train.lr=1e-3", "model.channels=[32,64,96]", "loss.terms=[{name: wce}, {name: lovasz, weight: 0.5}]"])
    assert cfg.train.lr == 1e-3 and cfg.model.channels == [32, 64, 96]
    assert [(t.name, t.weight) for t in cfg.loss.terms] == [("wce", 1.0), ("lovasz", 0.5)]
    assert parse_overrides(["a.b=1", "a.c=x"]) == {"a": {"b": 1, "c": "x"}}


def test_exponent_without_a_dot_is_a_number(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  lr: 1e-3\n  weight_decay: 5E-5\n")
    cfg = load_config(p)
    assert cfg.train.lr == 0.001 and cfg.train.weight_decay == 5e-5


@pytest.mark.parametrize("override, message", [
    ("model.channels=16", "model.channels: expected a list, got 16"),
    ("train.lrr=1", "unknown key train.lrr; train has amp,"),
    ("train.lr=fast", "train.lr: expected a number, got 'fast'"),
    ("train.epochs=2.5", "train.epochs: expected a whole number, got 2.5"),
    ("model.channels=[16,x]", "model.channels[1]: expected a whole number, got 'x'"),
    ("features.rgb=yes please", "features.rgb: expected true/false"),
    ("train.lr", "override 'train.lr': expected key=value"),
    ("train.lr=[1", "override 'train.lr=[1': YAML syntax error at line 1, column 3"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "configs" / "cpu_demo.yaml", [override])
    assert message in str(err.value)
    assert "cpu_demo.yaml" in str(err.value) or message.startswith("override")


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("train:\n  lr: 1e-3\n  epochs: [1, 2\nmodel:\n  aspp: true\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: YAML syntax error at line \d+, column \d+"):
        load_config(p)


def test_inference_takes_only_infer_overrides():
    cfg = load_config(None)
    assert apply_overrides(cfg, ["infer.tta=4"], allowed=("infer",)).infer.tta == 4
    with pytest.raises(ConfigError, match="settings of model are not taken here"):
        apply_overrides(cfg, ["model.aspp=false"], allowed=("infer",))
