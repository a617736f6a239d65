"""What the models are used for, as libraries (no command line here: :mod:`tubelet.cli` calls these):

- :mod:`.segmentation`: semantic segmentation of images with the official test, mIoU/mAcc/aAcc;
- :mod:`.pose`: top-down human keypoints, person boxes, COCO keypoint AP (the geometry and heatmap decoding the pose
  model shares: :mod:`tubelet.keypoints`);
- :mod:`.detection`: COCO object detection and instance masks of images with the official test, COCO box and mask AP;
- :mod:`.explain`: saliency maps of video classifiers (Grad-CAM, attention rollout);
- :mod:`.features`: clip features of untrimmed videos for temporal localisation.

The submodules are imported on first use, so ``import tubelet`` does not load them all.
"""
