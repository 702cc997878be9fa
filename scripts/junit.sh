#!/usr/bin/env bash
# The JVM functions' JUnit tests (tests/jvm) against the golden files both languages read (tests/golden):
# compiled with udfs/jvm against the installed Flink's jars, as scripts/setup.sh compiles the functions,
# and run by JUnit's console launcher (jvm/pom.xml, profile junit). scripts/test.sh runs it first.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${TOPK_VENV:-$ROOT/.venv}
JARS=${TOPK_JARS_DIR:-$ROOT/.jars}
PF=$("$VENV/bin/python" -c 'import pyflink,os;print(os.path.dirname(pyflink.__file__))')
CONSOLE=$(ls "$JARS"/junit/junit-platform-console-standalone-*.jar)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
javac -nowarn --release 17 -cp "$PF/lib/*:$CONSOLE" -d "$build" $(find "$ROOT/udfs/jvm" "$ROOT/tests/jvm" -name '*.java')
java -Dtopk.golden="$ROOT/tests/golden" -cp "$build:$PF/lib/*:$CONSOLE" org.junit.platform.console.ConsoleLauncher \
  execute --scan-class-path "$build" --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests
