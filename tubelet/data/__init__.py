"""Data: decoding, frame sampling, transforms and datasets, shared by every entry point (one data path)."""
from .augment import Mixup, RandAugment, random_erasing
from .datasets import (AnnotationError, VideoDataset, read_class_folders, read_class_names, read_kinetics_csv,
                       read_list_file, read_ssv2)
from .decode import VideoDecodeError, VideoReader, read_video
from .loader import EpochSampler, average_views, make_loader
from .presets import EvalTransform, TrainTransform, eval_clip, make_sampler
from .synthetic import SYNTHETIC_CLASSES, make_synthetic_dataset, synthetic_clip

__all__ = ["Mixup", "RandAugment", "random_erasing", "AnnotationError", "EpochSampler", "average_views", "make_loader",
           "EvalTransform", "SYNTHETIC_CLASSES", "TrainTransform", "VideoDataset", "VideoDecodeError", "VideoReader",
           "eval_clip", "make_sampler", "make_synthetic_dataset", "read_class_folders", "read_kinetics_csv",
           "read_class_names", "read_list_file", "read_ssv2", "read_video", "synthetic_clip"]
