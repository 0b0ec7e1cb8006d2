"""The `train` command: learning, determinism, resume, early stopping, divergence and its outputs."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import pipeline.models.registry
from pipeline.__main__ import main
from pipeline.checkpoint import load_checkpoint, save_checkpoint
from pipeline.models.card import IMAGENET_MEAN, IMAGENET_STD
from pipeline.models.pretrained import PretrainedInfo
from pipeline.models.registry import ModelSpec
from pipeline.train.config import TrainConfig
from test_data import make_clip_dataset, write_manifest

torch.set_num_threads(1)


class TinyNet(nn.Module):
    """A stand-in detector: one conv, global pooling and a linear logit (2D or 3D by `kind`)."""

    def __init__(self, kind: str, size: int, output_nan: bool = False):
        super().__init__()
        self.spec = ModelSpec(name="tiny", kind=kind, input_size=size, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                              clip_len=16, feature_layer="fc")
        self.conv = (nn.Conv2d if kind == "image" else nn.Conv3d)(3, 4, 3)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(4, 1)
        self.output_nan = output_nan

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x)).flatten(2).mean(-1)
        logits = self.fc(self.drop(h)).squeeze(1)
        return logits * math.nan if self.output_nan else logits


@pytest.fixture
def tiny_models(monkeypatch):
    """Replace the registry's builder with TinyNet: kind by name, input size from image_size (default 32)."""
    def build(name, *, image_size=None, clip_len=None, pretrained=None, backbone=None, **_):
        kind = "image" if name.startswith("tiny_image") else "video"
        return TinyNet(kind, image_size or 32, output_nan=name.endswith("nan")), PretrainedInfo(False, "test")
    monkeypatch.setattr(pipeline.models.registry, "build_model", build)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> Path:
    return make_clip_dataset(tmp_path_factory.mktemp("clips"))


def params(**train) -> dict:
    base = dict(seed=0, epochs=2, steps_per_epoch=3, val_steps=2, early_stop_patience=8, scheduler="plateau",
                scheduler_patience=5, milestones=[10], gamma=0.1, clip_len=16, image_size=None, num_workers=0,
                threads=1, mem_mb=1000, runtime=5)
    return {"hparams": {"lr": 1e-2, "batch_size": 4, "weight_decay": 1e-5}, "train": {**base, **train},
            "pretrained": "none", "preprocess": {"crop_size": 48}}


def train(manifests: Path, out: Path, state: Path, p: dict, model: str = "tiny_image") -> int:
    return main(["train", "--model", model, "--dataset", "ffpp", "--condition", "all", "--manifests", str(manifests),
                 "--out", str(out), "--state", str(state), "--params", json.dumps(p)])


def metrics(out: Path) -> list[dict]:
    with (out / "metrics.csv").open() as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def test_config_from_params():
    cfg = TrainConfig.from_params(params(epochs=7))
    assert cfg.epochs == 7 and cfg.batch_size == 4 and cfg.milestones == (10,) and cfg.pretrained_arg == "none"
    with pytest.raises(ValueError, match="scheduler"):
        TrainConfig.from_params(params(scheduler="cosine"))


def test_loss_falls_on_separable_data(tiny_models, manifests, tmp_path):
    assert train(manifests, tmp_path / "out", tmp_path / "state", params(epochs=4, steps_per_epoch=6)) == 0
    rows = metrics(tmp_path / "out")
    val = [float(r["val_loss"]) for r in rows]
    assert len(rows) == 4 and val[-1] < val[0] and float(rows[-1]["val_acc"]) == 1.0
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["best_epoch"] == 1 + val.index(min(val)) and meta["stopped_because"] == "max_epochs"
    assert meta["n_train"] == 8 and meta["device"] == "cpu" and meta["pretrained_source"] == "test"
    ckpt = load_checkpoint(tmp_path / "out" / "model.pt", expect_model="tiny_image")
    assert ckpt["epoch"] == meta["best_epoch"] and ckpt["spec"]["kind"] == "image" and ckpt["pretrained"] is False
    assert ckpt["preprocess"] == {"crop_size": 48} and ckpt["config"]["hparams"]["batch_size"] == 4
    assert (tmp_path / "out" / "loss.png").stat().st_size > 1000


def test_resume_continues_and_matches_uninterrupted_run(tiny_models, manifests, tmp_path, caplog):
    p2 = params(epochs=2)
    assert train(manifests, tmp_path / "full", tmp_path / "full_state", p2, model="tiny_video") == 0
    assert train(manifests, tmp_path / "out", tmp_path / "state", params(epochs=1), model="tiny_video") == 0
    assert len(metrics(tmp_path / "out")) == 1
    caplog.clear()
    with caplog.at_level("INFO", logger="pipeline.train"):
        assert train(manifests, tmp_path / "out", tmp_path / "state", p2, model="tiny_video") == 0
    assert "resuming after epoch 1" in caplog.text and "epoch 1/2" not in caplog.text
    assert metrics(tmp_path / "out") == metrics(tmp_path / "full")
    resumed = load_checkpoint(tmp_path / "out" / "model.pt")["state_dict"]
    full = load_checkpoint(tmp_path / "full" / "model.pt")["state_dict"]
    assert all(torch.equal(resumed[k], full[k]) for k in full)


def test_changed_params_start_afresh(tiny_models, manifests, tmp_path, caplog):
    assert train(manifests, tmp_path / "out", tmp_path / "state", params(epochs=1)) == 0
    changed = params(epochs=2)
    changed["hparams"]["lr"] = 1e-3
    with caplog.at_level("INFO", logger="pipeline.train"):
        assert train(manifests, tmp_path / "out", tmp_path / "state", changed) == 0
    assert "another configuration" in caplog.text and len(metrics(tmp_path / "out")) == 2


def test_best_model_not_matching_the_state_starts_afresh(tiny_models, manifests, tmp_path, caplog):
    assert train(manifests, tmp_path / "out", tmp_path / "state", params(epochs=1)) == 0
    best = tmp_path / "state" / "best.pt"
    save_checkpoint(best, **{**load_checkpoint(best), "epoch": 5})  # as if killed between best.pt and last.pt
    with caplog.at_level("INFO", logger="pipeline.train"):
        assert train(manifests, tmp_path / "out", tmp_path / "state", params(epochs=2)) == 0
    assert "not from epoch 1; starting afresh" in caplog.text and len(metrics(tmp_path / "out")) == 2


def test_same_seed_same_metrics(tiny_models, manifests, tmp_path):
    p = params(scheduler="multistep", milestones=[1])
    for run in ("a", "b"):
        assert train(manifests, tmp_path / run, tmp_path / f"{run}_state", p) == 0
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
    assert [float(r["lr"]) for r in metrics(tmp_path / "a")] == pytest.approx([1e-2, 1e-3])
    assert train(manifests, tmp_path / "c", tmp_path / "c_state", params(seed=1, scheduler="multistep")) == 0
    assert metrics(tmp_path / "c") != metrics(tmp_path / "a")


def test_early_stopping(tiny_models, manifests, tmp_path):
    p = params(epochs=10, early_stop_patience=2)
    p["hparams"]["lr"] = 0.0  # validation loss never improves after epoch 1
    assert train(manifests, tmp_path / "out", tmp_path / "state", p) == 0
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["stopped_because"] == "early_stopping" and meta["best_epoch"] == 1 and meta["epochs_run"] == 3


def test_divergence_stops_with_an_error(tiny_models, manifests, tmp_path, capsys):
    assert train(manifests, tmp_path / "out", tmp_path / "state", params(), model="tiny_image_nan") == 1
    assert "diverged" in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.pt").exists()


def test_empty_manifest_is_a_one_line_error(tiny_models, manifests, tmp_path, capsys):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "train.csv").write_text((manifests / "train.csv").read_text())
    write_manifest(folder / "val.csv", [])
    assert train(folder, tmp_path / "out", tmp_path / "state", params()) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(folder / "val.csv") in err


@pytest.mark.parametrize("model", ["efficientnet_b3", "r3d_18"])
def test_real_registry_models_train(manifests, tmp_path, model):
    p = params(epochs=1, steps_per_epoch=1, val_steps=1, image_size=32)
    p["hparams"]["batch_size"] = 2
    assert train(manifests, tmp_path / "out", tmp_path / "state", p, model=model) == 0
    ckpt = load_checkpoint(tmp_path / "out" / "model.pt", expect_model=model)
    assert ckpt["spec"]["input_size"] == 32 and ckpt["epoch"] == 1


def test_sequence_model_starts_from_a_trained_backbone(manifests, tmp_path):
    p = params(epochs=1, steps_per_epoch=1, val_steps=1, image_size=32)
    p["hparams"]["batch_size"] = 2
    assert train(manifests, tmp_path / "b3", tmp_path / "b3_state", p, model="efficientnet_b3") == 0
    argv = ["train", "--model", "efficientnet_b3_lstm", "--dataset", "ffpp", "--condition", "all", "--manifests",
            str(manifests), "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state"),
            "--params", json.dumps(p), "--init", str(tmp_path / "b3" / "model.pt")]
    assert main(argv) == 0
    assert load_checkpoint(tmp_path / "out" / "model.pt", expect_model="efficientnet_b3_lstm")["epoch"] == 1
    argv[argv.index("--init") + 1] = str(tmp_path / "out" / "model.pt")  # not an efficientnet_b3 checkpoint
    assert main(argv) == 2


# bf16 keeps ~3 significant digits. At random initialisation, deep networks amplify rounding, so gradients are
# compared by direction: measured cosines over every backbone gradient are 0.90 (I3D) to 1.00 (biGRU).
BF16_LOSS_ATOL, BF16_GRAD_COSINE = 0.01, 0.85


@pytest.mark.parametrize("name", pipeline.models.registry.list_models())
def test_the_bf16_step_matches_float32_and_reaches_the_backbone(name):
    """The step as it runs with bf16 autocast (CUDA, or a CPU with AMX), forced on this CPU, against the float32
    step on the same batch and weights: bf16 logits inside autocast, a loss within BF16_LOSS_ATOL, and gradients
    that reach the backbone, not only the head, pointing the same way (cosine >= BF16_GRAD_COSINE). The head gets
    random weights: the detectors start their output layer at zero, which would leave the backbone no gradient."""
    from pipeline.models.registry import build_model
    from pipeline.runtime import Placement
    from pipeline.train.loop import Runtime, train_step

    def step(bf16: bool) -> tuple[float, dict[str, torch.Tensor]]:
        torch.manual_seed(0)
        model, _ = build_model(name, image_size=32, clip_len=4, pretrained="none")
        for weight in (p for p in model.get_submodule(model.spec.feature_layer).parameters() if p.dim() > 1):
            torch.nn.init.normal_(weight, std=weight[0].numel() ** -0.5)
        rt = Runtime(Placement(torch.device("cpu"), model.spec.channels_last, bf16), model.spec.mean, model.spec.std)
        rt.placement.model(model).eval()  # no dropout and fixed BatchNorm statistics: one network for both steps
        shape = (2, *model.spec.input_shape())
        x, y = rt.prepare(torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1)),
                          torch.tensor([0.0, 1.0]))
        with rt.autocast():
            assert model(x).dtype == (torch.bfloat16 if bf16 else torch.float32)
        loss = train_step(model, x, y, torch.optim.SGD(model.parameters(), lr=0.0), rt)
        return loss, {n: (torch.zeros_like(p) if p.grad is None else p.grad).float().flatten()
                      for n, p in model.named_parameters() if p.requires_grad}

    (loss16, grads16), (loss32, grads32) = step(bf16=True), step(bf16=False)
    assert math.isfinite(loss16) and abs(loss16 - loss32) <= BF16_LOSS_ATOL, (loss16, loss32)
    head = pipeline.models.registry.get_card(name).feature_layer
    backbone = [n for n in grads32 if not n.startswith(head + ".")]
    g16, g32 = torch.cat([grads16[n] for n in backbone]), torch.cat([grads32[n] for n in backbone])
    assert g32.abs().sum() > 0 and g16.abs().sum() > 0, "no gradient reaches the backbone"
    assert torch.isfinite(g16).all()
    cosine = float(g16 @ g32 / (g16.norm() * g32.norm()))
    assert cosine >= BF16_GRAD_COSINE, f"{name}: bf16 gradients at cosine {cosine:.3f} to float32's"


def test_finished_run_frees_its_state_when_asked(tiny_models, manifests, tmp_path):
    p = params(epochs=1)
    p["train"]["keep_state"] = False
    assert train(manifests, tmp_path / "out", tmp_path / "state", p) == 0
    assert (tmp_path / "out" / "model.pt").is_file() and not (tmp_path / "state").exists()
    assert train(manifests, tmp_path / "kept", tmp_path / "kept_state", params(epochs=1)) == 0
    assert sorted(f.name for f in (tmp_path / "kept_state").iterdir()) == ["best.pt", "last.pt"]


@pytest.mark.parametrize("bf16", ["true", "false"])
def test_meta_records_how_the_run_computed(tiny_models, manifests, tmp_path, monkeypatch, bf16):
    """meta.json (and the checkpoint) say where and how the run computed: device and processor, the CPU's bf16
    support, whether autocast was on (here forced by STDD_BF16, which overrides `train.bf16`), threads, the
    library versions, the commit and the seed."""
    import timm
    import torchvision

    monkeypatch.setenv("STDD_BF16", bf16)
    p = params(epochs=1, seed=7)
    p["train"]["bf16"] = "false" if bf16 == "true" else "true"  # the environment wins
    assert train(manifests, tmp_path / "out", tmp_path / "state", p) == 0
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["autocast"] == ("bf16" if bf16 == "true" else "float32") and meta["seed"] == 7
    assert meta["device"] == "cpu" and meta["processor"] and meta["cpu_bf16"] in ("AMX", "AVX-512 BF16", "none")
    assert meta["threads"] == torch.get_num_threads()
    assert (meta["torch"], meta["torchvision"], meta["timm"]) == (torch.__version__, torchvision.__version__,
                                                                  timm.__version__)
    assert meta["commit"] == "unknown" or len(meta["commit"].removesuffix("+dirty")) >= 7
    ckpt = load_checkpoint(tmp_path / "out" / "model.pt")
    assert ckpt["runtime"]["autocast"] == meta["autocast"]
