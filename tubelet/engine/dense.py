"""The training tasks of the dense-prediction models (:class:`~tubelet.engine.objective.TrainingTask`): semantic
segmentation (mmseg's ADE20K recipe) and top-down pose (mmpose's COCO recipe), plugged into the one training loop.

Segmentation (``data.format``: ``ade20k`` or ``synthetic``): :class:`tubelet.data.segmentation.SegmentationFolder`
with :class:`~tubelet.data.segmentation.SegTrainPipeline` (``data.pipeline`` sets its options) for training and
:class:`~tubelet.data.segmentation.SegEvalPipeline` (the official test resize) for validation; the loss is
:func:`~tubelet.data.segmentation.segmentation_loss` (cross entropy with the ignore index; UperNet's auxiliary head at
0.4); the validation metric is mmseg's mIoU (%), over the whole validation split at each image's original size.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import Config, ConfigError
from . import distributed
from .build import cache_dir, generate_once
from .objective import DryRunPieces, TrainingTask, register_training_task

__all__ = ["SegmentationTask", "segmentation_root", "SegmentationMeter"]


class SegmentationMeter:
    """mmseg's mIoU bookkeeping: per-class intersection, union, prediction and label areas summed over images
    (``tubelet.tasks.segmentation.segmentation_metrics`` computes the same from the pairs themselves)."""

    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.areas = torch.zeros(4, num_classes, dtype=torch.float64)  # intersect, union, pred, label
        self.images = 0

    def update(self, pred: torch.Tensor, label: torch.Tensor) -> None:
        keep = label != self.ignore_index
        pred, label = pred[keep].long().cpu(), label[keep].long().cpu()
        k = self.num_classes
        inter = torch.bincount(pred[pred == label], minlength=k)[:k].double()
        area_pred = torch.bincount(pred.clamp(0, k), minlength=k + 1)[:k].double()
        area_label = torch.bincount(label.clamp(0, k), minlength=k + 1)[:k].double()
        self.areas += torch.stack([inter, area_pred + area_label - inter, area_pred, area_label])
        self.images += 1

    def summary(self) -> dict:
        inter, union, _, label = self.areas
        iou = inter / union  # nan where a class is in neither (mmseg's nanmean leaves it out)
        acc = inter / label
        valid = ~torch.isnan(iou)
        return {"mIoU": float(iou[valid].mean() * 100) if bool(valid.any()) else 0.0,
                "mAcc": float(acc[~torch.isnan(acc)].mean() * 100) if bool((~torch.isnan(acc)).any()) else 0.0,
                "aAcc": float(inter.sum() / label.sum() * 100) if float(label.sum()) else 0.0,
                "num_samples": self.images}


def segmentation_root(cfg: Config) -> Path:
    """The folder of the data: ``data.root``, or for the synthetic set its cache folder."""
    d = cfg.data
    if d.root:
        return Path(d.root)
    s = d.synthetic
    return cache_dir() / f"synthetic-seg-{s.num_train}-{s.num_val}-{s.height}x{s.width}-c{_synthetic_classes(cfg)}-seed{s.seed}"


def _synthetic_classes(cfg: Config) -> int:
    return cfg.model.num_classes or 4


@register_training_task
class SegmentationTask(TrainingTask):
    """Semantic segmentation: ADE20K-style folders, mmseg's pipeline and loss, mIoU (see the module docstring)."""

    name = "segmentation"
    metric = "mIoU"
    samples_word = "images"

    def _splits(self, cfg: Config) -> tuple[str, str]:
        return cfg.data.train or "training", cfg.data.val or "validation"

    def prepare(self, cfg: Config) -> None:
        d = cfg.data
        if d.format != "synthetic":
            return
        from ..data.segmentation import make_synthetic_segmentation

        s = d.synthetic
        root = segmentation_root(cfg)
        params = {"n_train": s.num_train, "n_val": s.num_val, "size": [s.height, s.width],
                  "num_classes": _synthetic_classes(cfg), "seed": s.seed}
        generate_once(root, params, lambda: make_synthetic_segmentation(
            root, n_train=s.num_train, n_val=s.num_val, size=(s.height, s.width), num_classes=_synthetic_classes(cfg),
            seed=s.seed))

    def class_names(self, cfg: Config) -> list[str] | None:
        d = cfg.data
        if d.labels is not None:
            from ..data.datasets import read_class_names
            try:
                return list(read_class_names(d.labels))
            except ValueError as e:
                raise ConfigError(f"data.labels: {e}") from None
        path = segmentation_root(cfg) / "class_names.txt"
        if path.is_file():
            return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
        return None

    def data_cfg(self, pcfg, cfg: Config):
        crop = self._pipeline_options(cfg)["crop_size"]
        h, w = (crop, crop) if isinstance(crop, int) else tuple(crop)
        return pcfg.replace(input_size=(3, h, w))

    def _pipeline_options(self, cfg: Config) -> dict:
        d = cfg.data
        if d.format == "synthetic":
            s = d.synthetic
            short = min(s.height, s.width)
            base = {"crop_size": [s.height, s.width], "img_scale": [4 * short, short]}
        else:
            base = {"crop_size": [512, 512], "img_scale": [2048, 512]}
        return {**base, **d.pipeline}

    def build_datasets(self, cfg: Config, dcfg, *, splits=("train", "val"), rank: int = 0, world_size: int = 1):
        from ..data.segmentation import SegEvalPipeline, SegmentationFolder, SegTrainPipeline
        from ..errors import UsageError

        d = cfg.data
        names = self.class_names(cfg)
        num_classes = cfg.model.num_classes or (len(names) if names else None)
        if num_classes is None:
            raise ConfigError("model.num_classes: give the number of classes (or data.labels, or a class_names.txt "
                              "in data.root)")
        opts = self._pipeline_options(cfg)
        try:
            train_pipe = SegTrainPipeline(**opts, reduce_zero_label=d.reduce_zero_label)
            eval_opts = {k: opts[k] for k in ("img_scale", "mean", "std", "ignore_index") if k in opts}
            eval_opts["align"] = opts.get("align", 32 if self._is_fpn(cfg) else None)
            eval_pipe = SegEvalPipeline(**eval_opts, reduce_zero_label=d.reduce_zero_label)
        except (TypeError, UsageError) as e:
            raise ConfigError(f"data.pipeline: {e}") from None
        root = segmentation_root(cfg)
        train_split, val_split = self._splits(cfg)
        out = {}
        common = dict(reduce_zero_label=d.reduce_zero_label, num_classes=num_classes, skip_bad=d.skip_bad,
                      seed=cfg.train.seed, class_names=names if names and len(names) == num_classes else None)
        if "train" in splits:
            out["train"] = SegmentationFolder(root, train_split, pipeline=train_pipe, **common)
        if "val" in splits:
            out["val"] = SegmentationFolder(root, val_split, pipeline=eval_pipe, **common)
        return out

    def eval_batch_size(self, cfg: Config) -> int:
        """One image per step unless ``data.eval_batch_size`` says otherwise: validation images keep their own sizes."""
        return cfg.data.eval_batch_size or 1

    @staticmethod
    def _is_fpn(cfg: Config) -> bool:
        return cfg.model.name.endswith("_fpn")

    def num_classes(self, cfg: Config, class_names, datasets) -> int:
        n = cfg.model.num_classes or (len(class_names) if class_names else None)
        if n is None:
            raise ConfigError("model.num_classes: give the number of classes (or data.labels)")
        if class_names and len(class_names) != n:
            raise ConfigError(f"data.labels names {len(class_names)} classes but model.num_classes is {n}")
        return n

    def sync_batchnorm(self, model, enabled: bool | None):
        """None: the decode and auxiliary heads' BatchNorms become SyncBatchNorm (mmseg's ``norm_cfg=SyncBN`` is on
        the heads only; the backbone's BatchNorms are plain in the official code too)."""
        if enabled is None:
            for name in ("decode_head", "auxiliary_head"):
                head = getattr(model, name, None)
                if head is not None:
                    setattr(model, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(head))
            return model
        return super().sync_batchnorm(model, enabled)

    def train_loss(self, model, batch, device, amp: str, cfg: Config, mixup=None) -> tuple[torch.Tensor, int]:
        from ..data.segmentation import segmentation_loss
        from .evaluate import autocast

        x, y = batch
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        inner = getattr(model, "module", model)  # under DDP: the model's settings
        with autocast(device, amp):
            logits, aux = model(x, heads=True)  # through forward: DDP's gradient hooks see it
        loss, _ = segmentation_loss(logits.float(), y, aux_logits=None if aux is None else aux.float(),
                                    align_corners=getattr(inner, "align_corners", False))
        return loss, x.shape[0]

    @torch.no_grad()
    def evaluate(self, model, loader, *, num_classes: int, device, cfg: Config, amp: str, progress: bool = False,
                 desc: str = "eval", equal_forwards: bool = False) -> dict:
        from tqdm.auto import tqdm

        from .evaluate import autocast

        was_training = model.training
        model.eval()
        meter = SegmentationMeter(num_classes)
        for x, label in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
            x = x.to(device)
            with autocast(device, amp):
                logits = model(x)
            for i in range(x.shape[0]):
                out = F.interpolate(logits[i:i + 1].float(), size=tuple(label.shape[-2:]), mode="bilinear",
                                    align_corners=False)
                meter.update(out.argmax(1)[0], label[i])
        model.train(was_training)
        areas = meter.areas.clone()
        images = torch.tensor([float(meter.images)], dtype=torch.float64)
        distributed.all_reduce_sum(areas, images)
        meter.areas, meter.images = areas, int(images.item())
        return meter.summary()

    def dry_run_pieces(self, cfg: Config) -> DryRunPieces:
        return _segmentation_dry_run(self, cfg)

    def record(self, result: dict) -> dict:
        return {k: result[k] for k in ("mIoU", "mAcc", "aAcc", "num_samples")}

    def summary(self, result: dict) -> str:
        return f"val mIoU {result['mIoU']:.2f}%, aAcc {result['aAcc']:.2f}%"


#: the side of the dry run's generated images (the recipe's pipeline, scaled to this crop)
DRY_RUN_SIDE = 64


def _segmentation_dry_run(self: "SegmentationTask", cfg: Config) -> DryRunPieces:
    """:meth:`SegmentationTask.dry_run_pieces`: the recipe's pipeline on 2 generated images of ``DRY_RUN_SIDE``
    pixels."""
    import numpy as np

    from ..data.segmentation import SegEvalPipeline, SegTrainPipeline

    d = cfg.data
    opts = self._pipeline_options(cfg)
    crop = opts["crop_size"]
    h, w = (crop, crop) if isinstance(crop, int) else tuple(crop)
    side = min(DRY_RUN_SIDE, h, w)
    small = dict(opts, crop_size=[side, side])
    if small.get("img_scale") is not None:
        long_, short = small["img_scale"]
        small["img_scale"] = [max(side, round(long_ * side / short)), side]
    try:
        pipe = SegTrainPipeline(**small, reduce_zero_label=d.reduce_zero_label)
        eval_pipe = SegEvalPipeline(img_scale=small.get("img_scale") or [4 * side, side],
                                    align=32 if self._is_fpn(cfg) else None, reduce_zero_label=d.reduce_zero_label)
    except TypeError as e:
        raise ConfigError(f"data.pipeline: {e}") from None

    def full_check(meta, x):
        logits, _ = meta(x, heads=True)
        if tuple(logits.shape) != (x.shape[0], meta.num_classes, x.shape[2] // 4, x.shape[3] // 4):
            raise RuntimeError(f"{cfg.model.name}: {tuple(x.shape)} gave logits {tuple(logits.shape)}")

    def generated(rng, num_classes):
        first = 1 if d.reduce_zero_label else 0
        images, labels = [], []
        for _ in range(2):
            image = rng.integers(0, 256, (side + 16, side + 32, 3), dtype=np.uint8)
            label = rng.integers(first, first + num_classes, (side + 16, side + 32)).astype(np.uint8)
            x, y = pipe(image, label, rng)
            images.append(x)
            labels.append(y)
        return torch.stack(images), torch.stack(labels)

    def eval_output(model, device):
        image = np.full((side, side + 8, 3), 128, np.uint8)
        x, _ = eval_pipe(image, np.zeros((side, side + 8), np.uint8))
        return model(x[None].to(device))

    return DryRunPieces((3, h, w), full_check, generated, eval_output)




# --------------------------------------------------------------------------------------------------------------
# Top-down pose
# --------------------------------------------------------------------------------------------------------------

def pose_files(cfg: Config) -> tuple[Path, Path, Path, Path]:
    """``(train json, train images, val json, val images)`` of the recipe (the synthetic set's in its cache)."""
    d = cfg.data
    if d.format == "synthetic":
        s = d.synthetic
        root = Path(d.root) if d.root else cache_dir() / (f"synthetic-pose-{s.num_train}-{s.num_val}-{s.height}x"
                                                       f"{s.width}-seed{s.seed}")
        return (root / "annotations" / "person_keypoints_train.json", root / "train",
                root / "annotations" / "person_keypoints_val.json", root / "val")
    missing = [k for k in ("train", "train_images", "val", "val_images") if getattr(d, k) is None]
    if missing:
        raise ConfigError(f"data: the coco_keypoints format needs {', '.join('data.' + k for k in missing)} (the "
                          f"keypoints json of each split and the folder of its images)")
    return Path(d.train), Path(d.train_images), Path(d.val), Path(d.val_images)


def _dist_info():
    """The process group's :class:`~tubelet.engine.distributed.DistInfo` under torchrun, else None."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return distributed.DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size())
    return None


#: a person's score: box score x the mean of its keypoint scores above this (mmpose's COCO ``vis_thr``)
_VIS_THR = 0.2


def _coco_keypoint_ap(ann_file: Path, results: list[dict]) -> dict:
    """pycocotools' keypoint AP of ``results`` against ``ann_file`` (the images of the results only): ``AP``,
    ``AP50``, ``AP75``, ``AR`` in %."""
    import contextlib
    import io

    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as e:
        from ..errors import DependencyError
        raise DependencyError(f"the pose validation's COCO keypoint AP needs pycocotools ({e}); "
                              f'pip install "tubelet[coco]"') from None
    if not results:
        return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0, "AR": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_file))
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.imgIds = sorted({r["image_id"] for r in results})
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(float(v), 0.0) * 100 for v in ev.stats]
    return {"AP": stats[0], "AP50": stats[1], "AP75": stats[2], "AR": stats[5]}


@register_training_task
class PoseTask(TrainingTask):
    """Top-down pose: persons of a COCO keypoints file (ground-truth boxes), mmpose's train pipeline and
    ``JointsMSELoss``; validation: the flip test and the 'default' decoding of every validation person's crop (its
    ground-truth box, where the official test uses a person detector's boxes), scored by pycocotools' keypoint AP."""

    name = "pose"
    metric = "AP"
    samples_word = "persons"

    def prepare(self, cfg: Config) -> None:
        if cfg.data.format != "synthetic":
            return
        from ..data.pose import make_synthetic_pose

        s = cfg.data.synthetic
        train_ann = pose_files(cfg)[0]
        root = train_ann.parent.parent
        generate_once(root, {"n_train": s.num_train, "n_val": s.num_val, "size": [s.height, s.width], "seed": s.seed},
                 lambda: make_synthetic_pose(root, n_train=s.num_train, n_val=s.num_val, size=(s.height, s.width),
                                             seed=s.seed))

    def class_names(self, cfg: Config) -> list[str] | None:
        from ..keypoints import COCO_KEYPOINT_NAMES
        return list(COCO_KEYPOINT_NAMES)

    def num_classes(self, cfg: Config, class_names, datasets) -> int:
        n = cfg.model.num_classes or len(class_names)
        if n != len(class_names):
            raise ConfigError(f"model.num_classes: {n} keypoints, but the COCO keypoints format has "
                              f"{len(class_names)}")
        return n

    def _image_size(self, cfg: Config, pcfg=None) -> tuple[int, int]:
        """The network input (W, H): ``data.pipeline.image_size``, else the model's ``img_size`` (H, W)."""
        from ..models import get_pretrained_cfg

        if "image_size" in cfg.data.pipeline:
            w, h = cfg.data.pipeline["image_size"]
            return int(w), int(h)
        pcfg = pcfg or get_pretrained_cfg(cfg.model.name, **cfg.model.options)
        return int(pcfg.input_size[-1]), int(pcfg.input_size[-2])

    def data_cfg(self, pcfg, cfg: Config):
        w, h = self._image_size(cfg, pcfg)
        return pcfg.replace(input_size=(3, h, w))

    def _pipelines(self, cfg: Config):
        from ..data.pose import TopDownEvalPipeline, TopDownTrainPipeline
        from ..errors import UsageError

        w, h = self._image_size(cfg)
        opts = {"image_size": [w, h], **cfg.data.pipeline}
        try:
            train = TopDownTrainPipeline(**opts)
            keep = {k: v for k, v in opts.items() if k in ("image_size", "heatmap_size", "sigma", "mean", "std")}
            return train, TopDownEvalPipeline(**keep)
        except (TypeError, UsageError) as e:
            raise ConfigError(f"data.pipeline: {e}") from None

    def build_datasets(self, cfg: Config, dcfg, *, splits=("train", "val"), rank: int = 0, world_size: int = 1):
        from ..data.pose import CocoKeypointsDataset

        train_ann, train_img, val_ann, val_img = pose_files(cfg)
        train_pipe, eval_pipe = self._pipelines(cfg)
        out = {}
        if "train" in splits:
            out["train"] = CocoKeypointsDataset(train_ann, train_img, train_pipe, skip_bad=cfg.data.skip_bad,
                                                seed=cfg.train.seed)
        if "val" in splits:
            out["val"] = CocoKeypointsDataset(val_ann, val_img, eval_pipe, skip_bad=cfg.data.skip_bad,
                                              seed=cfg.train.seed)
        return out

    def train_loss(self, model, batch, device, amp: str, cfg: Config, mixup=None) -> tuple[torch.Tensor, int]:
        from ..data.pose import joints_mse_loss
        from .evaluate import autocast

        x, target, weight = (t.to(device, non_blocking=True) for t in batch[:3])
        with autocast(device, amp):
            heatmaps = model(x)
        return joints_mse_loss(heatmaps.float(), target, weight), x.shape[0]

    @torch.no_grad()
    def evaluate(self, model, loader, *, num_classes: int, device, cfg: Config, amp: str, progress: bool = False,
                 desc: str = "eval", equal_forwards: bool = False) -> dict:
        from tqdm.auto import tqdm

        from .evaluate import autocast

        inner = getattr(model, "module", model)
        was_training = inner.training
        inner.eval()
        results, loss_sum, n = [], 0.0, 0
        from ..data.pose import joints_mse_loss
        for x, target, weight, meta in tqdm(loader, desc=desc, disable=not progress, leave=False,
                                            dynamic_ncols=True):
            x = x.to(device)
            with autocast(device, amp):
                heatmaps = inner(x).float()
                flipped = inner.flip_test_heatmaps(x)
            loss_sum += float(joints_mse_loss(heatmaps, target.to(device), weight.to(device))) * x.shape[0]
            n += x.shape[0]
            keypoints, maxvals = inner.decode_heatmaps(flipped, meta["center"], meta["scale"])
            for i in range(x.shape[0]):
                scores = maxvals[i, :, 0].cpu().numpy()
                valid = scores[scores > _VIS_THR]
                kp = torch.cat([keypoints[i].cpu(), maxvals[i].cpu()], 1).reshape(-1)
                results.append({"image_id": int(meta["image_id"][i]), "category_id": 1,
                                "keypoints": [float(v) for v in kp],
                                "score": float(valid.mean()) if valid.size else 0.0})
        inner.train(was_training)
        info = _dist_info()
        if info is not None:  # every process evaluates the union of the results (the same AP everywhere)
            parts = distributed.gather_objects((results, loss_sum, n), info)
            results = [r for p in parts for r in p[0]]
            loss_sum, n = sum(p[1] for p in parts), sum(p[2] for p in parts)
        ann_file = loader.dataset.ann_file
        out = _coco_keypoint_ap(Path(ann_file), results)
        out.update(loss=loss_sum / max(n, 1), num_samples=n)
        return out

    def record(self, result: dict) -> dict:
        return {k: result[k] for k in ("AP", "AP50", "AP75", "AR", "loss", "num_samples")}

    def summary(self, result: dict) -> str:
        return f"val AP {result['AP']:.2f}, AP50 {result['AP50']:.2f}"

    def dry_run_pieces(self, cfg: Config) -> DryRunPieces:
        return _pose_dry_run(self, cfg)


def _pose_dry_run(self: PoseTask, cfg: Config) -> DryRunPieces:
    """:meth:`PoseTask.dry_run_pieces`: the recipe's train pipeline on 2 generated stick figures at the recipe's
    size."""
    import numpy as np

    from ..data.pose import read_coco_persons, render_stick_figure

    w, h = self._image_size(cfg)
    train_pipe, eval_pipe = self._pipelines(cfg)

    def full_check(meta, x):
        out = meta(x)
        if tuple(out.shape) != (x.shape[0], meta.num_classes, x.shape[2] // 4, x.shape[3] // 4):
            raise RuntimeError(f"{cfg.model.name}: {tuple(x.shape)} gave heatmaps {tuple(out.shape)}")

    def persons(rng):
        import json
        import tempfile

        from PIL import Image

        folder = Path(tempfile.mkdtemp(prefix="tubelet-dry-run-pose-"))
        images, anns = [], []
        for i in range(2):
            image, ann = render_stick_figure(rng, 128, 96)
            Image.fromarray(image).save(folder / f"{i}.png")
            images.append({"id": i + 1, "file_name": f"{i}.png", "width": 96, "height": 128})
            anns.append({**ann, "id": i + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0})
        from ..keypoints import COCO_KEYPOINT_NAMES
        (folder / "ann.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": [
            {"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINT_NAMES), "skeleton": []}]}))
        from ..data.images import read_image
        samples = read_coco_persons(folder / "ann.json", folder, image_size=(w, h))
        return [(s, read_image(s.image_file)) for s in samples]

    def generated(rng, num_classes):
        items = [train_pipe(s, image, rng) for s, image in persons(rng)]
        return (torch.stack([it[0] for it in items]), torch.stack([torch.as_tensor(it[1]) for it in items]),
                torch.stack([torch.as_tensor(it[2]) for it in items]))

    def eval_output(model, device):
        s, image = persons(np.random.default_rng(1))[0]
        return model(eval_pipe(s, image)[0][None].to(device))

    return DryRunPieces((3, h, w), full_check, generated, eval_output)
