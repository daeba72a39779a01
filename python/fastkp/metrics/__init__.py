"""Metrics, by how they are computed:

- :mod:`.frame`: keypoint errors in the network's frame, summed batch by batch on the device
  (no host sync; ranks add the sums) -- fastai's ``rmse`` and its pixel variants;
- :mod:`.labels`: classification metrics over whole validation arrays;
- :mod:`.keypoints` and :mod:`.oks`: keypoint metrics as papers report them, over whole
  arrays in image pixels (NME, CED/AUC, failure rate, PCK, COCO's OKS AP);
- :mod:`.evaluator`: the keypoint evaluator -- the papers' metrics in image pixels against
  the labels as the data set gives them, one scorer for ``Learner.validate`` and
  ``python -m fastkp.evaluate``.
"""
