"""The field's video detectors (TALL, FTCN, AltFreezing, torchvision's Kinetics-400 models): shapes at demo and paper
sizes, the published weights' layouts (torchvision, timm, an ImageNet ResNet-50 inflated to 3D), this workflow's
own checkpoints, TALL's thumbnails and mask, FTCN's spatial 1x1 kernels, and AltFreezing's alternate freezing
through the training loop's own `train_step` and `train_epoch`.

(tests/test_models.py checks every card against its model: parameter count, one logit, features, the card in
the source.) Published files are stood in for by the libraries' own randomly initialised models.
"""
from __future__ import annotations

import json

import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file
import yaml
from torch import nn

from pipeline.checkpoint import save_checkpoint
from pipeline.models.altfreezing import weight_groups
from pipeline.models.card import catalogue
from pipeline.models.pretrained import PretrainedError
from pipeline.models.registry import build_model, features, get_card, gradcam_module
from pipeline.models.resnet3d import Bottleneck3d
from pipeline.runtime import Placement
from pipeline.train.loop import Runtime, build_optimizer, train_epoch, train_step

torch.set_num_threads(1)

NAMES = ["tall", "ftcn", "altfreezing", "r2plus1d_18", "mc3_18", "s3d", "swin3d_t"]
CARDS = catalogue()
FEATURE_DIMS = {"tall": 1024, "ftcn": 1024, "altfreezing": 2048, "r2plus1d_18": 512, "mc3_18": 512, "s3d": 1024,
                "swin3d_t": 768}
DEMO_SIZE = 64


def demo_clip_len(name: str) -> int:
    return 4 if name == "tall" else 8


@pytest.fixture(scope="module")
def demo() -> dict[str, nn.Module]:
    """Every detector at demo size (64 px; clips of 8 frames, TALL's of 4), random weights."""
    return {name: build_model(name, image_size=DEMO_SIZE, clip_len=demo_clip_len(name), pretrained="none")[0]
            for name in NAMES}


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torch hub and Hugging Face caches."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path


def hf_snapshot(caches, repo: str, state: dict[str, torch.Tensor]) -> str:
    """`state` as the Hugging Face cache holds a timm repo's `model.safetensors`; its path."""
    snapshot = caches / "hf" / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot / "model.safetensors"))
    return str(snapshot / "model.safetensors")


@pytest.mark.parametrize("name", NAMES)
def test_demo_size_gives_one_logit_and_features_per_clip(demo, name):
    model = demo[name].eval()
    x = torch.randn(2, 3, demo_clip_len(name), DEMO_SIZE, DEMO_SIZE)
    with torch.no_grad():
        logits = model(x)
        f = features(model, x)
    assert logits.shape == (2,) and torch.isfinite(logits).all()
    assert f.shape == (2, FEATURE_DIMS[name])


@pytest.mark.parametrize("name", NAMES)
def test_random_init_starts_at_p_one_half(demo, name):
    """The one-output head starts at zero: every detector begins at logit 0, whatever the clip."""
    model = demo[name].eval()
    with torch.no_grad():
        assert torch.equal(model(torch.randn(2, 3, demo_clip_len(name), DEMO_SIZE, DEMO_SIZE)), torch.zeros(2))


PAPER_MAPS = {"ftcn": (1, 1024, 8, 14, 14), "altfreezing": (1, 2048, 8, 7, 7), "r2plus1d_18": (1, 512, 2, 14, 14),
              "mc3_18": (1, 512, 16, 14, 14), "s3d": (1, 1024, 2, 7, 7)}


@pytest.mark.parametrize("name", NAMES)
def test_paper_size_clip(name):
    """One clip at the card's own size (224 px; 16 frames, TALL 4); the Grad-CAM layer's map where there is one."""
    model, _ = build_model(name, pretrained="none")
    card = get_card(name)
    assert model.spec.input_shape() == (3, card.clip_len, 224, 224)
    seen = []
    layer = gradcam_module(model)
    handle = layer.register_forward_hook(lambda m, i, out: seen.append(tuple(out.shape))) if layer else None
    try:
        with torch.no_grad():
            assert model.eval()(torch.randn(1, *model.spec.input_shape())).shape == (1,)
    finally:
        if handle:
            handle.remove()
    assert seen == ([PAPER_MAPS[name]] if name in PAPER_MAPS else [])


# --- published weights ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, builder", [("r2plus1d_18", "r2plus1d_18"), ("mc3_18", "mc3_18"), ("s3d", "s3d"),
                                           ("swin3d_t", "swin3d_t")])
def test_torchvision_kinetics_weights_load_from_the_hub_cache(caches, name, builder):
    kinetics = getattr(torchvision.models.video, builder)().state_dict()  # 400 classes, as the published file
    path = caches / "torch" / "hub" / "checkpoints" / get_card(name).weights[0].name
    torch.save(kinetics, path)
    model, info = build_model(name, image_size=DEMO_SIZE, clip_len=8)
    assert info.pretrained and info.source == str(path)
    assert info.loaded_keys == len(kinetics) - 2  # the 400-class weight and bias stay ours
    state = model.net.state_dict()
    head = get_card(name).head + "."
    assert all(torch.equal(state[k], v) for k, v in kinetics.items() if not k.startswith(head))
    out = model.get_submodule(get_card(name).feature_layer)
    assert not out.weight.any() and out.weight.shape[0] == 1


@pytest.mark.filterwarnings("ignore::UserWarning")  # timm resizing the tables (its own interpolation code)
@pytest.mark.parametrize("size", [224, DEMO_SIZE])
def test_tall_loads_timm_swin_b_at_paper_and_demo_size(caches, size):
    imagenet = timm.create_model("swin_base_patch4_window7_224", num_classes=21841).state_dict()  # ImageNet-22k
    path = hf_snapshot(caches, get_card("tall").weights[0].origin, imagenet)
    model, info = build_model("tall", image_size=size)
    assert info.pretrained and info.source == path
    state = model.net.state_dict()
    assert info.loaded_keys == len(state) - 2  # head.fc weight and bias
    resized = [k for k, v in imagenet.items() if k in state and v.shape != state[k].shape and not k.startswith("head.")]
    for key, tensor in imagenet.items():
        if key.startswith("head.") or key in resized:
            continue
        assert torch.equal(state[key], tensor), key
    if size == 224:
        assert not resized
    else:  # 64 px: stages 3 and 4 have 4 x 4 and 2 x 2 maps, their windows (and tables) shrink to them
        assert resized and all(k.endswith("relative_position_bias_table") for k in resized)
        assert state["layers.3.blocks.0.attn.relative_position_bias_table"].shape == (9, 32)
    assert model.net.head.fc.weight.shape == (1, 1024) and not model.net.head.fc.weight.any()


def test_altfreezing_inflates_an_imagenet_resnet50(caches):
    imagenet = timm.create_model("resnet50", num_classes=1000).state_dict()
    path = hf_snapshot(caches, get_card("altfreezing").weights[0].origin, imagenet)
    model, info = build_model("altfreezing", image_size=DEMO_SIZE, clip_len=8)
    assert info.pretrained and info.source == path
    state = model.state_dict()
    assert info.loaded_keys == len(state) - 2  # all but fc.weight and fc.bias (1000 classes)
    assert state["conv1.weight"].shape == (64, 3, 5, 7, 7)
    torch.testing.assert_close(state["conv1.weight"], imagenet["conv1.weight"][:, :, None].repeat(1, 1, 5, 1, 1) / 5)
    assert state["layer1.0.conv1.weight"].shape[2:] == (3, 1, 1)  # temporal "a" kernels
    torch.testing.assert_close(state["layer1.0.conv1.weight"], imagenet["layer1.0.conv1.weight"][:, :, None].repeat(
        1, 1, 3, 1, 1) / 3)
    assert state["layer2.1.conv1.weight"].shape[2:] == (1, 1, 1)
    assert torch.equal(state["layer4.2.conv2.weight"][:, :, 0], imagenet["layer4.2.conv2.weight"])  # 1x3x3: copied
    assert torch.equal(state["layer3.0.downsample.0.weight"][:, :, 0], imagenet["layer3.0.downsample.0.weight"])
    assert torch.equal(state["layer2.3.bn3.weight"], imagenet["layer2.3.bn3.weight"])
    assert not state["fc.weight"].any()


def test_inflated_static_clip_answers_as_the_2d_network_inside_the_clip():
    """I3D's inflation: away from the clip's ends (zero temporal padding), a clip of one repeated image gives every
    timestep the 2D ResNet-50's activations."""
    from pipeline.models.resnet3d import ResNet3d50, inflate_state_dict

    torch.manual_seed(0)
    net2d = torchvision.models.resnet50().eval()
    net3d = ResNet3d50(stages=1).eval()
    net3d.load_state_dict({k: v for k, v in inflate_state_dict(net2d.state_dict(), net3d).items()
                           if k in net3d.state_dict()})
    image = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        want = net2d.layer1(net2d.maxpool(net2d.relu(net2d.bn1(net2d.conv1(image)))))
        got = net3d.layer1(net3d.maxpool(net3d.relu(net3d.bn1(net3d.conv1(image[:, :, None].repeat(1, 1, 16, 1, 1))))))
    torch.testing.assert_close(got[:, :, 8], want, rtol=1e-4, atol=1e-4)  # the stem's 5 + layer1's 3 x 3 frames


def test_ftcn_has_spatial_kernels_of_one_and_takes_a_resnet50_summed_over_space(caches):
    model, info = build_model("ftcn", image_size=DEMO_SIZE, clip_len=8)
    assert not info.pretrained and "publishes no weights" in info.source and get_card("ftcn").weights == ()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    assert convs and all(m.kernel_size[1:] == (1, 1) and m.stride == (1, 1, 1) for m in convs)
    assert not hasattr(model.backbone, "layer4")
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck3d)]
    assert len(blocks) == 3 + 4 + 6
    assert model.pos_embedding.shape == (1, 17, 1024) and model.transformer[0].attn.heads == 16

    imagenet = torchvision.models.resnet50().state_dict()
    path = caches / "resnet50.pth"
    torch.save(imagenet, path)
    model, info = build_model("ftcn", image_size=DEMO_SIZE, clip_len=8, pretrained=str(path))
    state = model.backbone.state_dict()
    assert info.pretrained and info.loaded_keys == len(state)
    torch.testing.assert_close(state["conv1.weight"][:, :, :, 0, 0],
                               imagenet["conv1.weight"].sum(dim=(2, 3))[:, :, None].expand(-1, -1, 5) / 5)
    torch.testing.assert_close(state["layer3.5.conv2.weight"][:, :, 0, 0, 0],
                               imagenet["layer3.5.conv2.weight"].sum(dim=(2, 3)))


def test_ftcn_clip_of_32_frames_uses_the_original_16_tokens():
    model, _ = build_model("ftcn", image_size=32, clip_len=32, pretrained="none")
    assert sum(p.numel() for p in model.parameters()) == get_card("ftcn").params
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 32, 32, 32)).shape == (1,)


@pytest.mark.parametrize("name", ["altfreezing", "tall"])
def test_a_training_checkpoint_loads_in_full(demo, caches, name):
    trained = demo[name]
    torch.manual_seed(1)
    state = {k: v.clone() for k, v in trained.state_dict().items()}
    head = "fc.weight" if name == "altfreezing" else "net.head.fc.weight"
    torch.nn.init.normal_(state[head])
    path = caches / f"{name}.pt"
    save_checkpoint(path, model=name, state_dict=state, config={}, preprocess={})
    model, info = build_model(name, image_size=DEMO_SIZE, clip_len=demo_clip_len(name), pretrained=str(path))
    assert info.pretrained and info.loaded_keys == len(state)
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[key]), key
    with pytest.raises(PretrainedError, match=f"a checkpoint of {name}, not of ftcn"):
        build_model("ftcn", image_size=DEMO_SIZE, clip_len=8, pretrained=str(path))


# --- TALL's thumbnails ------------------------------------------------------------------------------------------

def test_tall_tiles_four_frames_and_masks_the_same_block_in_each_when_training(demo):
    model = demo["tall"]
    side = DEMO_SIZE // 2
    clip = torch.arange(1.0, 5.0).view(1, 1, 4, 1, 1).expand(2, 3, 4, 48, 48)  # frame i is the constant i + 1
    model.eval()
    image = model.thumbnail(clip)
    assert image.shape == (2, 3, DEMO_SIZE, DEMO_SIZE)
    quadrants = [image[..., :side, :side], image[..., :side, side:], image[..., side:, :side], image[..., side:, side:]]
    for i, quadrant in enumerate(quadrants):
        torch.testing.assert_close(quadrant, torch.full_like(quadrant, i + 1.0))

    model.train()
    torch.manual_seed(3)
    masked = model.thumbnail(clip)
    holes = [(q == 0).all(dim=1) for q in (masked[..., :side, :side], masked[..., :side, side:],
                                          masked[..., side:, :side], masked[..., side:, side:])]
    assert model.cutout == 5  # 16 px of a 112 px frame, at 32 px
    for hole in holes[1:]:
        assert torch.equal(hole, holes[0])  # the same block in every frame of a clip
    assert 0 < holes[0][0].sum() <= 16 and 0 < holes[0][1].sum() <= 16  # a 4 x 4 block, clipped at borders
    assert ((masked == 0) | (masked == image)).all()
    model.eval()


def test_tall_adds_each_frames_position_embedding_to_its_quadrant(demo):
    model = demo["tall"]
    pos = model.frame_positions(8, 8)
    for i, (rows, cols) in enumerate([(slice(0, 4), slice(0, 4)), (slice(0, 4), slice(4, 8)),
                                      (slice(4, 8), slice(0, 4)), (slice(4, 8), slice(4, 8))]):
        assert torch.equal(pos[rows, cols], model.frame_pos_embed[0, i].expand(4, 4, -1))


def test_tall_takes_four_frames_only():
    with pytest.raises(ValueError, match="clip_len must be 4"):
        build_model("tall", image_size=32, clip_len=8, pretrained="none")
    assert get_card("tall").hparams["clip_len"] == 4  # the run's clip length for TALL, whatever `train` says


# --- AltFreezing --------------------------------------------------------------------------------------------------

def test_altfreezing_groups_and_schedule():
    model, _ = build_model("altfreezing", image_size=32, clip_len=4, pretrained="none",
                           hparams={"spatial_steps": 2, "temporal_steps": 3})
    spatial, temporal = weight_groups(model)
    assert len(spatial) == 3 + 4 + 6 + 3  # every block's 1x3x3 conv2
    assert len(temporal) == 3 + 2 + 3 + 1  # the 3x1x1 conv1s of SlowFast's I3D
    assert all(p.dim() == 5 and p.shape[2] == 1 and p.shape[3] == 3 for p in spatial)
    assert all(p.dim() == 5 and p.shape[2] == 3 and p.shape[3] == 1 for p in temporal)
    assert [model.phase(s) for s in range(7)] == ["spatial"] * 2 + ["temporal"] * 3 + ["spatial"] * 2
    assert get_card("altfreezing").options == {"spatial_steps": 20, "temporal_steps": 20}
    plain, _ = build_model("altfreezing", image_size=32, clip_len=4, pretrained="none",
                           hparams={"spatial_steps": 0, "temporal_steps": 0})
    plain.before_step(5)
    assert plain.phase(5) == "all" and all(p.requires_grad for p in plain.parameters())
    with pytest.raises(ValueError, match="spatial_steps"):
        build_model("altfreezing", image_size=32, clip_len=4, pretrained="none", hparams={"spatial_steps": -1})


def _trainable_altfreezing() -> nn.Module:
    """AltFreezing at 32 px with every weight reachable by gradients (random head, residual branches switched on)."""
    torch.manual_seed(0)
    model, _ = build_model("altfreezing", image_size=32, clip_len=4, pretrained="none",
                           hparams={"spatial_steps": 2, "temporal_steps": 2})
    nn.init.normal_(model.fc.weight, std=0.1)
    for block in model.modules():
        if isinstance(block, Bottleneck3d):
            nn.init.ones_(block.bn3.weight)
    return model


def test_altfreezing_train_step_updates_only_the_unfrozen_group():
    """Spatial phase: temporal-related weights get no gradient and keep their values through an Adam step (and
    its weight decay); spatial-related and shared weights move. Then the other way round."""
    model = _trainable_altfreezing().train()
    spatial, temporal = weight_groups(model)
    shared = [model.conv1.weight, model.layer1[0].conv3.weight, model.layer2[0].bn2.weight, model.fc.weight]
    optimizer = build_optimizer(model, lr=1e-3, weight_decay=1e-4)
    rt = Runtime(Placement(torch.device("cpu")), model.spec.mean, model.spec.std)
    x, y = torch.randn(4, 3, 4, 32, 32), torch.tensor([0.0, 1.0, 0.0, 1.0])
    for step, trains, frozen in [(0, spatial, temporal), (2, temporal, spatial), (4, spatial, temporal)]:
        model.before_step(step)
        before = [p.detach().clone() for p in (*trains, *frozen, *shared)]
        assert train_step(model, x, y, optimizer, rt) > 0
        assert all(p.grad is None for p in frozen) and all(p.grad is not None for p in trains)
        after = [p.detach() for p in (*trains, *frozen, *shared)]
        n, m = len(trains), len(frozen)
        assert all(not torch.equal(a, b) for a, b in zip(after[:n], before[:n]))
        assert all(torch.equal(a, b) for a, b in zip(after[n:n + m], before[n:n + m]))
        assert all(not torch.equal(a, b) for a, b in zip(after[n + m:], before[n + m:]))


def test_the_training_loop_calls_before_step_with_the_run_step():
    """`train_epoch` (the loop `fit` runs) calls the hook with steps counted over the run: an epoch starting at
    step 2 of a 2 + 2 cycle trains the temporal-related weights only."""
    model = _trainable_altfreezing()
    spatial, temporal = weight_groups(model)
    optimizer = build_optimizer(model, lr=1e-3, weight_decay=1e-4)
    rt = Runtime(Placement(torch.device("cpu")), model.spec.mean, model.spec.std)
    batches = [(torch.randint(0, 256, (2, 3, 4, 32, 32), dtype=torch.uint8), torch.tensor([0.0, 1.0]))] * 2
    before = [p.detach().clone() for p in (*spatial, *temporal)]
    loss = train_epoch(model, batches, optimizer, rt, desc="test", first_step=2)
    assert loss > 0
    assert all(torch.equal(p, b) for p, b in zip(spatial, before[:len(spatial)]))
    assert all(not torch.equal(p, b) for p, b in zip(temporal, before[len(spatial):]))
    assert all(p.requires_grad for p in temporal) and not any(p.requires_grad for p in spatial)


@pytest.mark.slow
def test_every_new_detector_trains_evaluates_and_is_tabled_by_the_workflow(tmp_path):
    """The real rules on the tiny demo (FF++ `all`, runs of 2 x 2 steps at 32 px): each new detector trains (its
    own clip length: TALL's 4), is evaluated on the FF++ test set and on DeeperForensics, and gets its rows in
    Table 1 and the cross-dataset table and its point in the families figure."""
    import pandas as pd

    from helpers_workflow import PrivateWorkflow

    overrides = {"demo": {"identities": 6, "seconds": 2, "dfdc_parts": 2, "dfdc_videos_per_part": 3,
                          "celebdf_videos": 1}, "models": NAMES, "conditions": {"all": []},
                 "evaluate": {"gradcam": {"model": "mc3_18"}}}
    wf = PrivateWorkflow(tmp_path, overrides, ("ffpp", "deeperforensics"))
    cfg = yaml.safe_load(wf.config.read_text())
    cfg["demo"]["overrides"]["robustness"] = {"models": []}
    cfg["demo"]["overrides"]["hparams"].update({m: {"steps_per_epoch": 2, "image_size": 32, "batch_size": 2}
                                                for m in NAMES})
    wf.config.write_text(yaml.safe_dump(cfg))
    targets = [wf.results / f for f in ("tables/tables.md", "figures/families.png", "figures/figure5_gradcam.png")]
    result = wf.snakemake("-c2", "--replace-workflow-config", *map(str, targets))
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    for name in NAMES:
        for testset in ("ffpp", "deeperforensics"):
            metrics = pd.read_csv(wf.results / f"eval/ffpp/all/{name}/seed0/{testset}.metrics.csv")
            assert set(metrics["model"]) == {name} and metrics["value"].notna().any()
        meta = json.loads((wf.results / f"train/ffpp/all/{name}/seed0/meta.json").read_text())
        assert meta["epochs_run"] >= 1
    displays = {CARDS[n].display for n in NAMES}
    assert displays <= set(pd.read_csv(wf.results / "tables/table1.csv").iloc[:, 0])
    assert set(pd.read_csv(wf.results / "figures/families.csv")["name"]) == displays
