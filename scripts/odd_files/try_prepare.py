"""The training data stage on every file of DIR: works, or a one-paragraph error (never a
traceback). Run: python scripts/odd_files/try_prepare.py DIR"""

import io
import logging
import sys
from pathlib import Path

from textclass.config.load import load_config
from textclass.errors import TextclassError
from textclass.workflows.train import prepare

files = sorted(Path(sys.argv[1] if len(sys.argv) > 1 else "odd_files").iterdir())
rows = []
for f in files:
    log = io.StringIO()
    h = logging.StreamHandler(log)
    logging.getLogger().addHandler(h)
    logging.getLogger().setLevel(logging.INFO)
    try:
        cfg = load_config(None, [f"data.train={f}", "data.dataset=null"])
        data = prepare(cfg)
        n = {k: len(v) for k, v in data.splits.items()}
        res = f"OK rows={sum(n.values())} labels={data.labels[:6]} task={data.task}"
    except TextclassError as e:
        res = "ERR " + str(e).replace("\n", " ")[:300]
    except Exception as e:
        res = "TRACEBACK " + type(e).__name__ + ": " + str(e)[:200]
    logging.getLogger().removeHandler(h)
    msgs = " | ".join(m for m in log.getvalue().splitlines() if m)[:300]
    print(f"{f.name:28s} {res}\n{'':28s} log: {msgs}")
