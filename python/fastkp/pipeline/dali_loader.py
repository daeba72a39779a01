"""The DALI loader: decode, warp with each sample's matrix, normalise.

Per batch, ``fn.external_source`` hands DALI the encoded files and, from the
epoch plan (:mod:`fastkp.pipeline.plan`), each sample's decode window, warp
matrix and normalisation. The draws are made in vectorised numpy rather than
with ``fn.transforms.*`` and DALI's random generators so that the reference
loader gets exactly the same ones for the same seed, the loader can emit the
matrix each sample received, and the decode window can be derived from it; a
random crop (``min_scale``) is part of that matrix, as ``fn.transforms.crop``
would make it. Keypoints, visibility and labels never pass through DALI: the
plan computes them from the same matrices with the same code as the reference
loader, and the tests check that DALI's pixels land on them.

Work per image: decode only the window of the source that the output samples
(``fn.decoders.image_slice``, a libjpeg-turbo / nvJPEG region decode; the
whole image under the default augmentation, much less under crops and strong
zoom), one bilinear warp straight to the output size, and one
``fn.crop_mirror_normalize`` that applies the lighting and the ImageNet
normalisation together and writes ``dtype`` in channels-last layout. The warp
is ``fn.experimental.warp_perspective`` fed the affine matrix as a 3x3
homography: on the CPU it costs about half of ``fn.warp_affine``.
``device="cuda"`` runs the same graph with the ``mixed`` (nvJPEG / hardware)
decoder and GPU operators.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from ..data import DatasetError, Sample
from ..errors import UsageError
from .augment import AugConfig
from .decode import decode_checked, size_mismatch
from .geometry import to_3x3
from .boxes import BoxCrop
from .loader_args import LoaderArgs, check_loader_args
from .output import make_batch
from .plan import BatchPlan

_SAMPLE_NUMBER = re.compile(r"sample #(\d+)")


def _read(path: str) -> np.ndarray:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise DatasetError(f"{path}: cannot read the image ({err.strerror or err})") from None
    if data.size == 0:
        raise DatasetError(f"{path}: empty image file")
    return data


class _Feeder:
    """The ``external_source`` callback: hands DALI the next planned batch and remembers the
    batches in flight. It holds no reference to the loader or the pipeline, so dropping a
    loader frees its pipeline at once rather than leaving a cycle for the garbage collector
    (which could then run DALI's shutdown inside a forked DataLoader worker and hang)."""

    def __init__(self) -> None:
        self.plans: Iterator[BatchPlan] = iter(())
        self.inflight: deque[BatchPlan] = deque()  # handed to DALI, output not yet taken

    def __call__(self):
        plan = next(self.plans)  # StopIteration ends DALI's epoch
        data = [_read(p) for p in plan.paths]
        self.inflight.append(plan)
        # CMN computes (v - mean) / std: the same as v * scale + offset
        return (data, plan.roi_anchor, plan.roi_shape, to_3x3(plan.roi_matrix).astype(np.float32),
                -plan.offset / plan.scale, 1.0 / plan.scale)


def _build_pipeline(feeder: _Feeder, *, size: tuple[int, int], batch_size: int, num_threads: int,
                    device: torch.device, dtype: torch.dtype, pad_mode: str):
    from nvidia.dali import fn, pipeline_def, types

    gpu = device.type == "cuda"
    if pad_mode == "constant":
        border = {"border_mode": "constant", "fill_value": 0.0}
    else:
        border = {"border_mode": "replicate"}

    @pipeline_def(batch_size=batch_size, num_threads=num_threads,
                  device_id=device.index if gpu else None, exec_dynamic=True,
                  prefetch_queue_depth=2)
    def pipeline():
        encoded, anchor, shape, matrix, mean, std = fn.external_source(
            source=feeder, num_outputs=6, batch=True)
        image = fn.decoders.image_slice(encoded, anchor, shape, axis_names="WH",
                                        output_type=types.RGB, device="mixed" if gpu else "cpu")
        # the affine matrix as a 3x3 homography (see the module docstring)
        image = fn.experimental.warp_perspective(image, matrix=matrix, size=size, inverse_map=False,
                                                 pixel_origin="corner", **border)
        image = fn.crop_mirror_normalize(
            image, mean=mean, std=std, output_layout="HWC",
            dtype=types.FLOAT16 if dtype == torch.float16 else types.FLOAT)
        return image, fn.peek_image_shape(encoded)

    pipe = pipeline()
    pipe.build()
    return pipe


class DaliLoader:
    """Iterable over the batches of one shard; see :func:`build_loader`."""

    def __init__(self, args: LoaderArgs) -> None:
        if args.num_threads == 0:
            raise UsageError("num_threads must be a positive int for DALI, got 0", setting="num_threads")
        import nvidia.dali  # noqa: F401  (fail here, not mid-epoch, when DALI is missing)

        self.planner, self.device, self.dtype = args.planner, args.device, args.dtype
        self.num_threads, self.max_pixels = args.num_threads, args.max_pixels
        self.epoch = 0
        self._pipe = None
        self._feeder = _Feeder()
        self._token: object | None = None  # the running epoch's iterator, None when none is open

    def __len__(self) -> int:
        return len(self.planner)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch`` (its shuffle and augmentation)."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if len(self.planner) == 0:  # a validation shard with no samples
            self.epoch += 1
            return iter(())
        if self._pipe is None or self._token is not None:
            # first epoch, a failed one, or one abandoned with batches still in flight
            self._pipe = None
            self._feeder = _Feeder()
            self._pipe = _build_pipeline(
                self._feeder, size=self.planner.size, batch_size=self.planner.batch_size,
                num_threads=self.num_threads, device=self.device, dtype=self.dtype,
                pad_mode=self.planner.aug.pad_mode)
        self._feeder.plans = self.planner.epoch(self.epoch)
        self._feeder.inflight.clear()
        self.epoch += 1
        self._token = token = object()
        return self._batches(token)

    def _batches(self, token: object) -> Iterator[dict[str, torch.Tensor]]:
        stream = torch.cuda.current_stream(self.device) if self.device.type == "cuda" else None
        for i in range(len(self.planner)):
            if self._token is not token:
                raise UsageError("this epoch's iterator was superseded by a newer iter(loader)")
            try:
                images, shapes = (self._pipe.run(stream.cuda_stream) if stream is not None
                                  else self._pipe.run())
            except DatasetError:  # from _read
                self._pipe = None
                raise
            except RuntimeError as err:  # DALI's; the pipeline is no longer usable
                self._pipe = None
                named = self._named(err)
                if named is None:
                    raise
                raise named from err
            plan = self._feeder.inflight.popleft()
            if i == len(self.planner) - 1:
                self._pipe.reset()  # DALI has seen the plan run out: ready for the next epoch
                self._token = None
            _check_sizes(plan, shapes)
            if stream is not None:
                with torch.cuda.device(self.device):
                    nhwc = torch.from_dlpack(images.as_tensor())
            else:
                nhwc = torch.from_dlpack(images.as_tensor())
            yield make_batch(nhwc, plan.targets, self.device, self.dtype)

    def _named(self, err: RuntimeError) -> DatasetError | None:
        """Name the file behind a DALI error: the oldest batch in flight failed (DALI reports
        errors in order). The decoder names the sample by its number in the batch, or, for
        some failures (and a Sample.size larger than the image), not at all: then the reference
        decoder finds the culprit."""
        if not self._feeder.inflight:
            return None
        plan = self._feeder.inflight[0]
        found = _SAMPLE_NUMBER.search(str(err))
        if found is not None and int(found[1]) < len(plan.paths):
            return DatasetError(f"{plan.paths[int(found[1])]}: DALI could not decode the image "
                                "(truncated or corrupt?)")
        for path, hw in zip(plan.paths, plan.src_hw):
            try:
                decode_checked(path, hw, self.max_pixels)
            except DatasetError as bad:
                return bad
        return None


def _check_sizes(plan: BatchPlan, shapes) -> None:
    hw = np.array(shapes.as_tensor())[:, :2]
    bad = np.flatnonzero(np.any(hw != plan.src_hw, axis=1))
    if bad.size:
        raise size_mismatch(plan.paths[bad[0]], hw[bad[0]], plan.src_hw[bad[0]])


def build_loader(
    samples: Sequence[Sample],
    *,
    size: tuple[int, int] = (240, 320),
    batch_size: int = 64,
    train: bool = True,
    aug: AugConfig | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    num_threads: int = 2,
    seed: int = 0,
    shard_id: int = 0,
    num_shards: int = 1,
    flip_index: Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    box_crop: BoxCrop | None = None,
    keys: Sequence[str] | None = None,
    max_pixels: int | None = None,
) -> DaliLoader:
    """A DALI loader over ``samples``; each iteration is one epoch of this shard.

    Yields dicts: ``images`` (B, 3, H, W) ``dtype``, channels_last, normalised with ``mean``
    and ``std`` (of pixels scaled to [0, 1]; default ImageNet's); ``index`` int64 (B,) into
    ``samples``; ``matrix`` float32 (B, 2, 3), the source-to-output pixel matrix each sample
    received; and of the targets named by ``keys`` (default: all) those the samples have:
    ``keypoints`` float32 (B, K, 2) in [-1, 1] (``x' = 2x/W - 1``, pixel corner at 0; 0 where
    not visible) and ``visible`` bool (B, K) (:func:`fastkp.pipeline.codec.encode`);
    ``points_px`` float32 (B, K, 2), ``visibility`` int8 (B, K) and ``image_id`` int64 (B,),
    the keypoints as the data set labels them (:func:`fastkp.pipeline.codec.labels`, not
    augmented); ``area`` float32 (B,), the objects' areas OKS scales by, when every sample
    has one (``Sample.area``); ``boxes`` float32 (B, 4) in source pixels when every sample has a box;
    ``labels`` float32 (B, C), ``values`` float32 (B, D) and ``label`` int64 (B,).

    ``train=True`` augments with ``aug`` (default ``AugConfig()``), reshuffles every epoch
    from (seed, epoch), sees every sample every epoch (the last batch is completed from the
    start of the epoch's order) and gives every shard the same number of full batches. ``train=False`` only resizes (squashes to ``size``, :func:`resize_matrix`) and
    yields every sample once across shards, keeping the last partial batch. ``flip_index[i]``
    names the point that becomes point i when an image is flipped. ``box_crop`` crops each
    sample's box (:mod:`fastkp.pipeline.boxes`; jittered in training by ``aug.box_scale`` and
    ``aug.box_shift``) instead of taking its whole image. ``max_pixels``: the pixel limit
    (:mod:`fastkp.data.pixels`) of the images it decodes itself to name a failing file. ``device="cuda"`` decodes
    with nvJPEG and augments on the GPU. Unreadable images raise
    :class:`fastkp.data.DatasetError` naming the file.
    """
    return DaliLoader(check_loader_args(
        samples, size=size, batch_size=batch_size, train=train, aug=aug, device=device,
        dtype=dtype, num_threads=num_threads, seed=seed, shard_id=shard_id,
        num_shards=num_shards, flip_index=flip_index, mean=mean, std=std, box_crop=box_crop, keys=keys,
        max_pixels=max_pixels))
