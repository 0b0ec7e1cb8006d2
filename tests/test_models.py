"""The detectors: every card against the model it builds (parameter counts, shapes, features), the paper's
six against Table A.5, freezing, and weight loading."""
from __future__ import annotations

import argparse
import importlib
from dataclasses import replace

import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file

from pipeline.models import cli
from pipeline.models.card import catalogue, read_card
from pipeline.models.i3d_rgb import InceptionI3d
from pipeline.models.pretrained import PretrainedError
from pipeline.models.recurrent import counted_blocks
from pipeline.models.registry import build_model, features, get_spec, gradcam_module, list_models

CARDS = catalogue()
NAMES = list(CARDS)
# Table A.5 of the paper (millions, 3 decimals) and Appendix A.4's hyper-parameters (I3D: R3D-18's, the
# paper gives none), written here as literals: the cards must agree with the paper.
PAPER = {"xception": 20.809, "efficientnet_b3": 10.698, "efficientnet_b3_lstm": 30.245,
         "efficientnet_b3_bigru": 26.441, "r3d_18": 33.167, "i3d_rgb": 12.288}
APPENDIX_A4 = {"xception": (1e-4, 8, 1e-5), "efficientnet_b3": (1e-4, 8, 1e-5), "efficientnet_b3_lstm": (2e-6, 2, 1e-5),
               "efficientnet_b3_bigru": (2e-6, 2, 1e-5), "r3d_18": (1e-5, 4, 1e-7), "i3d_rgb": (1e-5, 4, 1e-7)}
FEATURE_DIMS = {"xception": 2048, "efficientnet_b3": 1536, "efficientnet_b3_lstm": 1024,
                "efficientnet_b3_bigru": 2048, "r3d_18": 512, "i3d_rgb": 1024}


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    """Every detector, built once with random weights (the real weight caches are never touched)."""
    return {name: build_model(name, pretrained="none")[0] for name in NAMES}


def _n_params(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _tiny_input(model: torch.nn.Module) -> torch.Tensor:
    size = 64 if model.spec.kind == "image" else 32
    shape = model.spec.input_shape()
    return torch.randn(2, 3, size, size) if model.spec.kind == "image" else torch.randn(2, 3, shape[1], size, size)


def test_the_papers_six_detectors_are_registered_in_the_papers_order():
    assert NAMES[:6] == list(PAPER) and list_models() == NAMES


@pytest.mark.parametrize("name", list(PAPER))
def test_the_papers_cards_hold_table_a5_and_appendix_a4(name):
    card = CARDS[name]
    assert round(card.params / 1e6, 3) == PAPER[name]
    assert (card.hparams["lr"], card.hparams["batch_size"], card.hparams["weight_decay"]) == APPENDIX_A4[name]


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_matches_the_card(models, name):
    assert _n_params(models[name]) == CARDS[name].params


@pytest.mark.parametrize("name", NAMES)
def test_the_module_declares_the_card_the_workflow_reads(name):
    """The card read from the source (what the Snakefile sees) is the one the module builds with."""
    card = CARDS[name]
    module = importlib.import_module(card.module)
    assert replace(module.DETECTOR, module=card.module, path=card.path) == card
    assert read_card(card.path, card.module) == card


@pytest.mark.parametrize("name", NAMES)
def test_one_logit_per_sample_and_pre_classifier_features(models, name):
    model = models[name].eval()
    x = _tiny_input(model)
    with torch.no_grad():
        assert model(x).shape == (2,)
        f = features(model, x)
    assert f.shape[0] == 2 and f.shape[1] > 0
    if name in FEATURE_DIMS:
        assert f.shape == (2, FEATURE_DIMS[name])


def test_specs_follow_the_cards_and_image_size_overrides():
    assert get_spec("xception").input_size == 299 and get_spec("xception").mean == (0.5, 0.5, 0.5)
    assert get_spec("r3d_18").input_shape() == (3, 16, 224, 224)
    assert get_spec("efficientnet_b3", image_size=64).input_shape() == (3, 64, 64)
    model, _ = build_model("i3d_rgb", image_size=96, pretrained="none")
    assert model.spec.input_size == 96
    with pytest.raises(ValueError, match="unknown model"):
        get_spec("resnet50")
    with pytest.raises(ValueError, match="has no option"):
        get_spec("r3d_18", options={"freeze": 3})


def test_r3d_keeps_all_16_timesteps_up_to_layer4(models):
    model = models["r3d_18"].eval()
    seen = []
    handle = gradcam_module(model).register_forward_hook(lambda m, i, out: seen.append(out.shape))
    try:
        with torch.no_grad():
            model(torch.randn(1, 3, 16, 112, 112))
    finally:
        handle.remove()
    assert gradcam_module(model) is model.layer4
    assert seen == [(1, 512, 16, 7, 7)]


def test_i3d_pools_a_full_size_16_frame_clip(models):
    model = models["i3d_rgb"].eval()
    seen = []
    handle = gradcam_module(model).register_forward_hook(lambda m, i, out: seen.append(out.shape))
    try:
        with torch.no_grad():
            assert model(torch.randn(1, 3, 16, 224, 224)).shape == (1,)
    finally:
        handle.remove()
    assert seen == [(1, 1024, 2, 7, 7)]


def test_lstm_backbone_is_frozen_completely(models):
    model = models["efficientnet_b3_lstm"].train()
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in [*model.rnn.parameters(), *model.head.parameters()])
    assert model.rnn.num_layers == 2 and not model.rnn.bidirectional
    assert not any(m.training for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_bigru_freezes_the_first_20_of_25_blocks(models):
    model = models["efficientnet_b3_bigru"].train()
    blocks = counted_blocks(model.backbone)
    assert len(blocks) == 25
    net = model.backbone.net
    frozen = [net.conv_stem, net.bn1, net.blocks[0], *blocks[:20]]
    assert not any(p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for m in blocks[20:] for p in m.parameters())
    assert all(p.requires_grad for p in [*model.rnn.parameters(), *model.head.parameters()])
    assert model.rnn.bidirectional and model.rnn.num_layers == 1
    assert not net.bn1.training and net.bn2.training


@pytest.mark.parametrize("name", ["efficientnet_b3_lstm", "efficientnet_b3_bigru"])
def test_training_step_reaches_only_the_trainable_parameters(models, name):
    model = models[name].train()
    model.zero_grad(set_to_none=True)
    model(torch.randn(2, 3, 4, 32, 32)).sum().backward()
    for param_name, param in model.named_parameters():
        used = param.requires_grad and not param_name.startswith("backbone.net.classifier.")
        assert (param.grad is not None) == used, param_name
    model.zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", ["efficientnet_b3_lstm", "efficientnet_b3_bigru"])
def test_sequence_backbone_loads_a_trained_efficientnet_b3(models, name):
    trained = models["efficientnet_b3"].state_dict()
    model, info = build_model(name, backbone=trained)
    assert info.pretrained and info.loaded_keys == len(trained)
    for key, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, trained[key]), key


def test_backbone_state_dict_errors(models):
    with pytest.raises(PretrainedError, match="not an efficientnet_b3"):
        build_model("efficientnet_b3_lstm", backbone=models["xception"].state_dict())
    with pytest.raises(ValueError, match="no backbone detector"):
        build_model("r3d_18", backbone=models["efficientnet_b3"].state_dict())


def residual_blocks(model: torch.nn.Module) -> list[tuple[torch.nn.Module, torch.Tensor, object]]:
    """(block, an input for it, its shortcut as a function) of every residual block of Xception,
    EfficientNet-B3 or R3D-18."""
    from timm.models.xception import Block as XceptionBlock
    from torchvision.models.video.resnet import BasicBlock

    blocks = []
    for m in model.modules():
        if isinstance(m, BasicBlock):
            x = torch.randn(1, m.conv1[0].in_channels, 2, 8, 8)
            blocks.append((m, x, lambda x, m=m: torch.relu(m.downsample(x) if m.downsample is not None else x)))
        elif isinstance(m, XceptionBlock):
            x = torch.randn(1, next(layer for layer in m.rep if hasattr(layer, "pointwise")).conv1.in_channels, 8, 8)
            blocks.append((m, x, lambda x, m=m: m.skipbn(m.skip(x)) if m.skip is not None else x))
        elif getattr(m, "has_skip", False):  # timm's EfficientNet blocks with an identity shortcut
            x = torch.randn(1, (m.conv_pw if hasattr(m, "conv_pw") else m.conv_dw).in_channels, 8, 8)
            blocks.append((m, x, lambda x: x))
    return blocks


@pytest.mark.parametrize("name, n_blocks", [("xception", 12), ("efficientnet_b3", 19), ("r3d_18", 8)])
def test_random_init_starts_every_residual_block_as_its_shortcut(models, name, n_blocks):
    """Zero-gamma: the last BatchNorm of each residual branch starts at scale 0, so at random init every
    residual block outputs what its shortcut does. (Loaded weights replace those scales: the weight-loading
    tests below compare every loaded tensor.)"""
    torch.manual_seed(0)
    blocks = residual_blocks(models[name])
    assert len(blocks) == n_blocks
    with torch.no_grad():
        for block, x, shortcut in blocks:
            block.eval()
            torch.testing.assert_close(block(x), shortcut(x))
    models[name].eval()


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torch hub and Hugging Face caches."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path


def test_random_init_when_the_caches_are_empty(caches):
    _, info = build_model("i3d_rgb")
    assert not info.pretrained
    assert info.source.startswith("random init: no weights found in")
    assert str(caches / "torch" / "hub" / "checkpoints" / "rgb_charades.pt") in info.source


def test_r3d_loads_kinetics_weights_from_the_torch_hub_cache(caches):
    kinetics = torchvision.models.video.r3d_18().state_dict()  # 400 classes, as the published file
    path = caches / "torch" / "hub" / "checkpoints" / "r3d_18-b3b3357e.pth"
    torch.save(kinetics, path)
    model, info = build_model("r3d_18")
    assert info.pretrained and info.source == str(path)
    assert info.loaded_keys == len(kinetics) - 2  # fc.weight and fc.bias (400 classes) dropped
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in kinetics.items() if not k.startswith("fc."))
    assert state["fc.weight"].shape == (1, 512)


def test_i3d_loads_a_pytorch_i3d_checkpoint(caches):
    imagenet = InceptionI3d(get_spec("i3d_rgb"), num_classes=400).state_dict()
    imagenet = {k: v for k, v in imagenet.items() if not k.endswith("num_batches_tracked")}  # as in old files
    assert imagenet["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert imagenet["Mixed_3b.b1b.conv3d.weight"].shape == (128, 96, 3, 3, 3)
    assert imagenet["Mixed_5c.b3b.bn.running_var"].shape == (128,)
    assert imagenet["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1)
    path = caches / "torch" / "hub" / "checkpoints" / "rgb_imagenet.pt"
    torch.save(imagenet, path)
    model, info = build_model("i3d_rgb")
    assert info.pretrained and info.source == str(path)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in imagenet.items() if not k.startswith("logits."))
    assert state["logits.conv3d.weight"].shape == (1, 1024, 1, 1, 1)


def test_timm_weights_load_from_a_path_and_from_the_hf_cache(caches):
    imagenet = timm.create_model("efficientnet_b3", num_classes=1000).state_dict()
    path = caches / "effnet.pth"
    torch.save(imagenet, path)
    model, info = build_model("efficientnet_b3", pretrained=str(path))
    assert info.pretrained and info.source == str(path)
    assert torch.equal(model.net.conv_stem.weight, imagenet["conv_stem.weight"])
    assert model.net.classifier.weight.shape == (1, 1536)

    snapshot = caches / "hf" / "hub" / "models--timm--efficientnet_b3.ra2_in1k" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    save_file(imagenet, str(snapshot / "model.safetensors"))
    model, info = build_model("efficientnet_b3")
    assert info.source == str(snapshot / "model.safetensors")
    assert torch.equal(model.net.blocks[6][1].conv_pwl.weight, imagenet["blocks.6.1.conv_pwl.weight"])


def test_unusable_weight_files_are_errors(caches):
    with pytest.raises(PretrainedError, match="no such weights file"):
        build_model("efficientnet_b3", pretrained=str(caches / "missing.pth"))
    garbage = caches / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedError, match="not a loadable"):
        build_model("efficientnet_b3", pretrained=str(garbage))
    other = caches / "i3d.pt"
    torch.save(InceptionI3d(get_spec("i3d_rgb")).state_dict(), other)
    with pytest.raises(PretrainedError, match="matches only 0 of"):
        build_model("efficientnet_b3", pretrained=str(other))


def test_a_training_checkpoint_of_the_same_detector_loads_in_full_head_included(caches):
    """The `pretrained.<model>` path takes this workflow's own checkpoints (the demo's pretraining runs)."""
    from pipeline.checkpoint import save_checkpoint

    torch.manual_seed(1)
    trained, _ = build_model("efficientnet_b3", image_size=32, pretrained="none")
    torch.nn.init.normal_(trained.net.classifier.weight)
    path = caches / "pretrain.pt"
    save_checkpoint(path, model="efficientnet_b3", state_dict=trained.state_dict(), config={}, preprocess={})
    model, info = build_model("efficientnet_b3", image_size=32, pretrained=str(path))
    assert info.pretrained and info.loaded_keys == len(trained.state_dict())
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, trained.state_dict()[key]), key
    with pytest.raises(PretrainedError, match="a checkpoint of efficientnet_b3, not of xception"):
        build_model("xception", pretrained=str(path))


def test_models_command_lists_every_detector(capsys):
    assert cli.run(argparse.Namespace(names=[], plugin=[])) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out
    assert "30,244,906" in out and "3x16x224x224" in out and "NO" not in out
    assert cli.run(argparse.Namespace(names=["nope"], plugin=[])) == 2
