#!/bin/sh
# Joins what the extracts wrote.
set -e
cat out/db1-"$1".txt out/db2-"$1".txt > out/processed-"$1".txt
echo "processed $(wc -l < out/processed-"$1".txt) lines"
