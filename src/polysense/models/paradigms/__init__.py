"""The architecture paradigms of audio(image)-text learning, each a registered model.

- :mod:`.dual_encoder`: two towers projected into one space (the base of :mod:`.vsepp`, VSE++'s
  hinge loss, and :mod:`.clip`, CLIP's contrastive loss).
- :mod:`.entangled`: the skeleton of the models in which the two modalities interact inside
  (matching and masked objectives): :mod:`.vilbert` (co-attention, two streams), :mod:`.vilt`
  (one joint transformer) and :mod:`.albef` (align by a contrastive loss, then fuse by
  cross-attention, with momentum distillation).
"""
