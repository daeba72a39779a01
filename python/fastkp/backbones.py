"""Bodies: any torchvision classification model, or ``timm:NAME``, cut where it pools.

- torchvision (``resnet18``, ``convnext_tiny``, ``efficientnet_b0``, ...): the model's
  children up to the last one that pools, as fastai's ``create_body`` cuts
  (``avgpool`` for ResNets, ConvNeXt, EfficientNet, MobileNet, RegNet, Swin);
  numbered as an ``nn.Sequential`` (``0.weight``, ...).
- timm (``timm:convnext_nano``, ...): the model without its classifier, called
  through ``forward_features``.

The body's output must be a (B, C, H, W) map; its channel count comes from a dry run
at the network input size. Models whose features are tokens (ViTs) are refused.

Pretrained weights are each library's default ImageNet weights, read from that
library's own cache (``$TORCH_HOME/hub/checkpoints`` for torchvision, the Hugging
Face cache for timm) by that library's loading code: :func:`default_weights` says
whether they are there without downloading; :func:`create_body` with
``pretrained=True`` downloads them when they are not (10-second network timeout).
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from .errors import UsageError

TIMM = "timm:"
NETWORK_TIMEOUT_S = 10
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d, nn.MaxPool2d)
# kept trainable in a frozen body (fastai's train_bn, with the norms of newer families)
NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)
EXAMPLES = "resnet18, resnet50, convnext_tiny, efficientnet_b0, mobilenet_v3_large, regnet_y_800mf, ..."


@dataclass(frozen=True)
class Weights:
    """An architecture's default ImageNet weights: where its library keeps them."""

    arch: str
    cache_file: Path | None  # the file in the library's cache; None: not there
    where: str  # where they would be (a cache path or a Hugging Face repository)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _timm():
    try:
        import timm
    except ImportError:
        raise UsageError("arch: timm architectures need the timm package: pip install 'fastkp[timm]'",
                         setting="arch") from None
    return timm


def torchvision_archs() -> list[str]:
    return torchvision.models.list_models(module=torchvision.models)


def check_arch(arch: str) -> None:
    """UsageError unless ``arch`` names a torchvision classification model or a timm model."""
    if not isinstance(arch, str):
        raise UsageError(f"arch must be a model name, got {arch!r}", setting="arch")
    if arch.startswith(TIMM):
        if not _timm().is_model(arch[len(TIMM):]):
            raise UsageError(f"arch {arch!r}: unknown timm model (timm.list_models() lists them)",
                             setting="arch")
    elif arch not in torchvision_archs():
        raise UsageError(f"arch {arch!r}: unknown; give a torchvision classification model ({EXAMPLES}; "
                         "torchvision.models.list_models()) or timm:NAME", setting="arch")


def _torchvision_weights(arch: str):
    try:
        return torchvision.models.get_model_weights(arch).DEFAULT
    except (ValueError, AttributeError):
        return None


def _timm_cfg(name: str):
    """timm's pretrained config of ``name`` (its default tag when none is given)."""
    timm = _timm()
    model_name, tag = timm.models.split_model_name_tag(name)
    return timm.models.get_pretrained_cfg(f"{model_name}.{tag}" if tag else model_name, allow_unregistered=False)


def default_weights(arch: str) -> Weights | None:
    """The default ImageNet weights of ``arch`` and whether they are in the cache (never
    downloads); None if the library has none for it."""
    if arch.startswith(TIMM):
        cfg = _timm_cfg(arch[len(TIMM):])
        if cfg is None:
            return None
        mean, std = tuple(cfg.mean), tuple(cfg.std)
        if cfg.hf_hub_id:
            from huggingface_hub import try_to_load_from_cache

            found = [try_to_load_from_cache(cfg.hf_hub_id, f) for f in ("model.safetensors", "pytorch_model.bin")]
            cached = next((Path(f) for f in found if isinstance(f, str)), None)
            return Weights(arch, cached, f"Hugging Face repository {cfg.hf_hub_id}", mean, std)
        if cfg.url:
            path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(cfg.url).path).name
            return Weights(arch, path if path.is_file() else None, str(path), mean, std)
        return None
    w = _torchvision_weights(arch)
    if w is None:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(w.url).path).name
    t = w.transforms()
    return Weights(arch, path if path.is_file() else None, str(path), tuple(t.mean), tuple(t.std))


def normalisation(arch: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) the body expects: those of its default weights, else ImageNet's."""
    w = default_weights(arch)
    return (w.mean, w.std) if w is not None else (IMAGENET_MEAN, IMAGENET_STD)


def random_notice(arch: str) -> str:
    """Why a body starts random, and how to get its weights."""
    w = default_weights(arch)
    if w is None:
        return f"{arch} has no ImageNet weights in its library: the body starts from random weights"
    if w.cache_file is not None:
        return f"the body starts from random weights (--pretrained no; ImageNet weights are in {w.cache_file})"
    how = ("python -c \"import timm; timm.create_model('" + arch[len(TIMM):] + "', pretrained=True)\""
           if arch.startswith(TIMM) else f"python -c \"import torchvision; torchvision.models.get_model("
           f"'{arch}', weights='DEFAULT')\"")
    return (f"the body starts from RANDOM weights: {arch}'s ImageNet weights are not in the cache ({w.where}); "
            f"--pretrained yes downloads them, or run {how} where there is internet and copy the cache here")


@contextlib.contextmanager
def _network_timeout():
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(NETWORK_TIMEOUT_S)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _reason(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


class TimmBody(nn.Module):
    """A timm model without its classifier: ``forward`` is its ``forward_features``, as
    (B, C, H, W) (Swin-like models give (B, H, W, C))."""

    def __init__(self, arch: str, model: nn.Module):
        super().__init__()
        if getattr(model, "num_prefix_tokens", None) is not None:
            raise UsageError(f"arch {arch}: a vision transformer: its features are tokens, not a (B, C, H, W) map; "
                             "choose a convolutional model", setting="arch")
        self.model = model
        self.nhwc = str(getattr(model, "output_fmt", "NCHW")).endswith("NHWC")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.model.forward_features(x)
        return x.permute(0, 3, 1, 2) if self.nhwc else x


def _full_model(arch: str, pretrained: bool) -> nn.Module:
    """The library's model, with its default ImageNet weights when ``pretrained``
    (downloaded into the cache if missing); UsageError naming the source otherwise."""
    w = default_weights(arch) if pretrained else None
    if pretrained and w is None:
        raise UsageError(f"pretrained: {arch} has no ImageNet weights in its library; use no", setting="pretrained")
    try:
        with _network_timeout():
            if arch.startswith(TIMM):
                overlay = {"file": str(w.cache_file)} if pretrained and w.cache_file else None
                return _timm().create_model(arch[len(TIMM):], pretrained=pretrained, num_classes=0,
                                            pretrained_cfg_overlay=overlay)
            return torchvision.models.get_model(arch, weights="DEFAULT" if pretrained else None)
    except UsageError:
        raise
    except Exception as e:  # urllib, huggingface_hub, hash and unpickling errors
        if not pretrained:
            raise UsageError(f"arch {arch}: cannot build it ({_reason(e)})", setting="arch") from None
        raise UsageError(f"pretrained: could not get {arch}'s ImageNet weights ({w.where}): {_reason(e)}; "
                         "use no, or put the file in the cache", setting="pretrained") from None


def _cut(arch: str, model: nn.Module) -> tuple[nn.Sequential, list[str]]:
    """fastai's create_body: the children before the last pooling child (or up to the
    last child holding a pool); with their names, for mapping a full state dict."""
    children = list(model.named_children())
    pooling = [i for i, (_, m) in enumerate(children) if any(isinstance(x, POOLS) for x in m.modules())]
    if not pooling:
        raise UsageError(f"arch {arch}: no pooling layer to cut at: its features are not a (B, C, H, W) map "
                         "(a vision transformer?); choose a convolutional model", setting="arch")
    end = pooling[-1] + (0 if isinstance(children[pooling[-1]][1], POOLS) else 1)
    kept = children[:end]
    return nn.Sequential(*(m for _, m in kept)), [name for name, _ in kept]


def create_body(arch: str, size: tuple[int, int], pretrained: bool = False) -> tuple[nn.Module, int, list[str]]:
    """(body, output channels, child names) of ``arch`` at input ``size`` (height, width);
    the names map a full model's state dict onto the body (empty for timm)."""
    check_arch(arch)
    model = _full_model(arch, pretrained)
    if arch.startswith(TIMM):
        body, names = TimmBody(arch, model), []
    else:
        body, names = _cut(arch, model)
    try:
        out = _dry_run(body, size)
    except Exception as e:  # a model that needs another input size, or cannot be cut this way
        raise UsageError(f"arch {arch}: cannot run as a body at {size[0]}x{size[1]}: {_reason(e)}", setting="arch") from None
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UsageError(f"arch {arch}: its features are {shape}, not a (B, C, H, W) map (a vision transformer?); "
                         "choose a convolutional model", setting="arch")
    return body, int(out.shape[1]), names


def _dry_run(body: nn.Module, size: tuple[int, int]):
    """``body``'s output for one black image of ``size``, in eval mode, without gradients."""
    was_training = body.training
    body.eval()
    try:
        with torch.no_grad():
            return body(torch.zeros(1, 3, *size))
    finally:
        body.train(was_training)


def feature_hw(body: nn.Module, size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) in cells of ``body``'s feature map for an input of ``size``."""
    out = _dry_run(body, size)
    return int(out.shape[2]), int(out.shape[3])


def body_state(state: dict, names: list[str], timm: bool) -> dict:
    """A full model's state dict (``layer1.0.conv1.weight`` ...) with the body's keys."""
    if timm:
        return {f"model.{k}": v for k, v in state.items()}
    out = {}
    for key, value in state.items():
        prefix, _, rest = key.partition(".")
        if prefix in names:
            out[f"{names.index(prefix)}.{rest}"] = value
    return out

