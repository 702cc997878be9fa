#!/usr/bin/env bash
# All benchmarks in one run (sketch core and end to end, with their peers); prints a table and
# writes bench/results/bench.json and bench.png. Flags: python -m bench --help.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
"${TOPK_VENV:-$ROOT/.venv}/bin/pip" install -q --disable-pip-version-check -e ".[bench]" 2>&1 | grep -v "^WARNING: Location" || true
# the JVM sketch core's peer (section jvm): Apache DataSketches for Java, pinned in jvm/pom.xml
JARS=${TOPK_JARS_DIR:-$ROOT/.jars}
if [[ ! -f "$JARS/datasketches/.pom-sum" ]] || [[ $(cat "$JARS/datasketches/.pom-sum") != $(sha256sum jvm/pom.xml | cut -c1-16) ]]; then
  rm -rf "${JARS:?}/datasketches"
  mvn -q -B -Dstyle.color=never -f jvm/pom.xml -P datasketches dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$JARS/datasketches"
  sha256sum jvm/pom.xml | cut -c1-16 >"$JARS/datasketches/.pom-sum"
fi
exec "${TOPK_VENV:-$ROOT/.venv}/bin/python" -m bench "$@"
