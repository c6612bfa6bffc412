#!/bin/bash
# predict and evaluate every file of DIR with MODEL; rc=2 is a clean error, tb=1 a traceback.
# Run: bash scripts/odd_files/try_cli.sh MODEL_DIR DIR
M=$1
DIR=${2:-odd_files}
out=$(mktemp -d)
for f in "$DIR"/*; do
  n=$(basename "$f")
  for cmd in predict evaluate; do
    if [ $cmd = predict ]; then args=(-i "$f" -o "$out/$n.pred.csv"); else args=(-d "$f"); fi
    r=$(timeout 120 textclass $cmd "$M" "${args[@]}" 2>&1); rc=$?
    tb=$(echo "$r" | grep -c Traceback)
    printf "%-26s %-8s rc=%s tb=%s %s\n" "$n" "$cmd" "$rc" "$tb" "$(echo "$r" | grep -v '^\s*$' | grep -v 'predicting' | tail -1 | cut -c1-200)"
  done
done
