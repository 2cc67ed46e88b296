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


@pytest.mark.parametrize("override, message", [
    ("train.lr=.nan", "train.lr: expected a finite number, got nan"),
    ("train.batch_size=0", "train.batch_size: expected a number >= 1, got 0"),
    ("train.epochs=0", "train.epochs: expected a number >= 1, got 0"),
    ("infer.edge_weight=-1", "infer.edge_weight: expected a number > 0 and <= 1, got -1.0"),
    ("infer.coverage_buffer=-5", "infer.coverage_buffer: expected a number >= -1, got -5.0"),
    ("infer.coverage_buffer=.nan", "infer.coverage_buffer: expected a finite number, got nan"),
])
def test_values_out_of_range_are_refused_where_the_config_is_read(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load_config("cpu_demo", [override])


def test_a_config_whose_base_is_itself_is_one_line(tmp_path):
    (tmp_path / "self.yaml").write_text("_base_: self.yaml\ntrain:\n  lr: 1e-3\n")
    with pytest.raises(ConfigError, match=r"self.yaml: _base_ goes round in a circle \(self.yaml -> self.yaml\)"):
        load_config(tmp_path / "self.yaml")


def run_tool(*args: str):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "POINTSEG_DEBUG"} | {"PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, str(ROOT / "tools" / args[0]), *args[1:]], capture_output=True, text=True, timeout=120, env=env)


def test_train_with_zero_epochs_stops_before_anything_is_written(tmp_path):
    """It used to exit 0 leaving config.json, so the next run said the work dir 'holds a started run'."""
    result = run_tool("train.py", "--config", "cpu_demo", "--data", str(tmp_path / "p"), "--work-dir", str(tmp_path / "w"), "train.epochs=0")
    assert (result.returncode, result.stderr) == (2, "error: cpu_demo with overrides train.epochs=0: train.epochs: expected a number >= 1, got 0\n")
    assert not (tmp_path / "w").exists()


def test_infer_buffer_flags_out_of_range_are_named(monkeypatch, capsys, tmp_path):
    """--buffer nan used to act as 0 and --buffer -5 as one patch (50 m)."""
    import sys

    from pointseg import cli

    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    import infer

    for value, message in (("nan", "expected a finite number, got nan"), ("-5", "expected a number >= -1, got -5.0")):
        monkeypatch.setattr(sys, "argv", ["infer.py", "--ckpt", str(tmp_path / "none.pt"), "--input", str(tmp_path), "--out", str(tmp_path / "o"),
                                          "--buffer", value])
        with pytest.raises(SystemExit) as exit_:
            cli.run(infer.main)
        assert exit_.value.code == 2
        assert capsys.readouterr().err == f"error: settings: infer.coverage_buffer: {message}\n"
    assert not (tmp_path / "o").exists()


def test_overrides_may_follow_options(monkeypatch, capsys):
    """`--workers 1 data.voxel_size=-1 --overwrite` used to be 'unrecognized arguments'; now the override is read and checked."""
    import sys

    from pointseg import cli

    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", ["prepare_stpls3d.py", "--src", "x", "--out", "y", "--workers", "1", "data.voxel_size=-1", "--overwrite"])
    import prepare_stpls3d

    with pytest.raises(SystemExit) as exit_:
        cli.run(prepare_stpls3d.main)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: the default config with overrides data.voxel_size=-1: data.voxel_size: expected a number > 0, got -1.0\n"
