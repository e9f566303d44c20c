#!/bin/sh
# Extracts "rows" of a database into a file named after the database and the run's sequence.
set -e
mkdir -p out
echo "rows of $1 for sequence $2" > "out/$1-$2.txt"
echo "extracted $1"
