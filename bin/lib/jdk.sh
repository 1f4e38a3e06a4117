# Sourced by bin/cairn and bin/test: finds a JDK >= 21 and exports JAVA_HOME and CAIRN_JAVA.
# Order: $JAVA_HOME, then `java` on PATH, then every JDK under /usr/lib/jvm (newest first).

cairn_java_major() {
  # Prints the feature version of the java binary $1 ("17", "21", "25"), or nothing. The JDK's release file
  # says it without starting a JVM (which costs ~0.1 s of every bin/cairn start); java itself otherwise.
  local release v
  release="$(dirname "$1")/../release"
  if [ -f "$release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\(1\.\)\{0,1\}\([0-9]*\).*/\2/p' "$release" | head -n 1)
    if [ -n "$v" ]; then echo "$v"; return 0; fi
  fi
  "$1" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \(1\.\)\{0,1\}\([0-9]*\).*/\2/p' | head -n 1
}

cairn_find_jdk() {
  local candidates=() c major
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME/bin/java")
  if command -v java >/dev/null 2>&1; then candidates+=("$(readlink -f "$(command -v java)")"); fi
  for c in $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV); do candidates+=("${c%/}/bin/java"); done
  for c in "${candidates[@]}"; do
    [ -x "$c" ] || continue
    [ -x "$(dirname "$c")/javac" ] || continue   # a JRE cannot build Cairn
    major=$(cairn_java_major "$c")
    if [ -n "$major" ] && [ "$major" -ge 21 ]; then
      JAVA_HOME=$(cd "$(dirname "$c")/.." && pwd)
      CAIRN_JAVA="$JAVA_HOME/bin/java"
      export JAVA_HOME CAIRN_JAVA
      return 0
    fi
  done
  echo "cairn: no JDK >= 21 found (looked at \$JAVA_HOME, java on PATH, /usr/lib/jvm/*)." >&2
  echo "cairn: install one, e.g. 'apt-get install openjdk-21-jdk-headless', or set JAVA_HOME." >&2
  return 1
}
