"""The data audit: what is wrong with the data before a model is trained on it.

One module per concern, each check a pure function of the prepared splits that returns data
(a dataclass or a dict), never a file:

    texts.py       texts as compared (normalised, shingled); empty, URL-only, numbers-only and
                   mixed-script texts
    profile.py     class balance per split; text lengths against model.max_length
    duplicates.py  exact and near-duplicates (MinHash LSH) within and across splits; label
                   conflicts
    labels.py      likely label errors (cleanlab on out-of-fold probabilities)
    actions.py     data.near_duplicates and data.leakage applied to the splits, counted
    checks.py      the cheap checks every training run starts with, and the record of them

`textclass.workflows.audit.audit` runs them all and writes audit.json, audit.md and audit.html
(docs/audit.md).
"""
