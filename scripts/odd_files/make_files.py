"""Odd real-world training files (the kind users have), written to DIR (default ./odd_files).

Run: python scripts/odd_files/make_files.py DIR; then try_prepare.py DIR and try_cli.sh MODEL DIR.
"""

import bz2
import gzip
import io
import json
import lzma
import sys
import zipfile
from pathlib import Path

from textclass.data import datasets

out = Path(sys.argv[1] if len(sys.argv) > 1 else "odd_files")
out.mkdir(exist_ok=True)
rt = datasets.load("rotten_tomatoes").sample(300, random_state=0).reset_index(drop=True)
rt["label"] = rt["label"].astype(str)
base = rt[["text", "label"]]
csv = base.to_csv(index=False)


def w(name, data):
    p = out / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


w("plain.csv", csv)
w("bom.csv", "\ufeff" + csv)
w("crlf.csv", csv.replace("\n", "\r\n"))
w("cr_only.csv", csv.replace("\n", "\r"))
w("latin1.csv", (csv.replace("a", "á", 30)).encode("latin-1", errors="replace"))
w("cp1252.csv", csv.replace("'", "\u2019").encode("cp1252", errors="replace"))
w("utf16.csv", csv.encode("utf-16"))
w("utf16.tsv", base.to_csv(index=False, sep="\t").encode("utf-16"))
w("semicolon.csv", base.to_csv(index=False, sep=";"))
w("pipe.txt", base.to_csv(index=False, sep="|"))
w("plain.csv.gz", gzip.compress(csv.encode()))
w("plain.csv.bz2", bz2.compress(csv.encode()))
w("plain.csv.xz", lzma.compress(csv.encode()))
buf = io.BytesIO()
zipfile.ZipFile(buf, "w").writestr("plain.csv", csv)
w("plain.csv.zip", buf.getvalue())
buf = io.BytesIO()
zipfile.ZipFile(buf, "w").writestr("data.csv", csv)
w("archive.zip", buf.getvalue())
w("noheader.csv", base.to_csv(index=False, header=False))
w("caps_header.csv", base.rename(columns={"text": "Text", "label": " Label "}).to_csv(index=False))
w("index_col.csv", base.to_csv(index=True))
w(
    "sentiment_cols.csv",
    base.rename(columns={"text": "review", "label": "sentiment"}).to_csv(index=False),
)
x = base.copy()
x["label"] = x["label"].map({"fresh": "Positive", "rotten": "negative"})
x.loc[::7, "label"] = "positive"
w("label_case.csv", x.to_csv(index=False))
x = base.copy()
x.loc[::5, "label"] = x.loc[::5, "label"] + " "
w("label_space.csv", x.to_csv(index=False))
x = base.copy()
x.loc[::9, "label"] = ""
w("label_missing.csv", x.to_csv(index=False))
x = base.copy()
x.loc[::11, "text"] = ""
w("text_missing.csv", x.to_csv(index=False))
x = base.copy()
x["label"] = x["label"].map({"fresh": "1", "rotten": "0"})
w("label01.csv", x.to_csv(index=False))
x = base.copy()
x["label"] = x["label"].map({"fresh": "1.0", "rotten": "0.0"})
w("label_float.csv", x.to_csv(index=False))
x = base.copy()
x["label"] = x["label"].map({"fresh": 1, "rotten": 0})
w("label_int.jsonl", x.to_json(orient="records", lines=True))
x = base.copy()
x["label"] = x["label"].map({"fresh": True, "rotten": False})
w("label_bool.jsonl", x.to_json(orient="records", lines=True))
x = base.copy()
x["label"] = x["label"].map({"fresh": 1, "rotten": 0})
x.to_parquet(out / "label_int.parquet")
x = base.copy()
x["label"] = x["label"].astype("category")
x.to_parquet(out / "label_cat.parquet")
x = base.copy()
x.loc[::13, "text"] = None
x.to_parquet(out / "text_none.parquet")
x = base.copy()
x["label"] = x["label"].map({"fresh": "NA", "rotten": "None"})
w("label_na.csv", x.to_csv(index=False))
x = base.copy()
x["label"] = "fresh"
w("one_class.csv", x.to_csv(index=False))
x = base.copy()
x.loc[3, "text"] = 'he said "hi there'
w("quote_in_tsv.tsv", x.to_csv(index=False, sep="\t", quoting=3, escapechar="\\"))
w("jsonl_bom.jsonl", "\ufeff" + base.to_json(orient="records", lines=True))
w("jsonl_blank.jsonl", base.to_json(orient="records", lines=True).replace("\n", "\n\n", 5))
w("json_records.json", base.to_json(orient="records"))
w("json_lists.json", json.dumps([[t, y] for t, y in zip(base.text, base.label, strict=True)]))
w("json_trailing_comma.jsonl", base.to_json(orient="records", lines=True).replace("}\n", "},\n", 1))
x = base.copy()
x["text2"] = x["text"]
x = x.rename(columns={"text2": "text"})
w("dup_cols.csv", x.to_csv(index=False))
x = base.copy()
x.loc[5, "text"] = "x" * 200_000
w("huge_text.csv", x.to_csv(index=False))
x = base.copy()
x.loc[5, "text"] = "nul\x00byte"
w("nul.csv", x.to_csv(index=False))
x = base.copy()
x["text"] = x["text"].str.replace(",", "", regex=False)
w(
    "unquoted_commas.csv",
    "text,label\n" + "\n".join(f"{t},{y}" for t, y in zip(base.text, base.label, strict=True)),
)
x = base.copy()
x["extra"] = range(len(x))
w("ragged.csv", csv + "a,b,c,d\n")
w("only_header.csv", "text,label\n")
w("empty.csv", "")
w("data.xlsx", b"PK\x03\x04fake")
try:
    base.to_excel(out / "real.xlsx", index=False)
except Exception as e:
    print("no excel:", e)
w("noext", csv)
w("tsv_as_csv.csv", base.to_csv(index=False, sep="\t"))
x = base.copy()
x["label"] = x["label"].map({"fresh": "pos|neg", "rotten": "neg"})
w("pipes_in_label.csv", x.to_csv(index=False))
print(len(list(out.iterdir())), "files")
