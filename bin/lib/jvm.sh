# Sourced by bin/cairn (and by bench/run, which starts Cairn through bin/cairn and describes these options):
# the JVM options Cairn runs with.
#
# cairn_jvm_options: sets the array CAIRN_JVM_OPTIONS from the defaults below and $CAIRN_JAVA_OPTS.
#
# Defaults, each left out when $CAIRN_JAVA_OPTS sets its own (e.g. CAIRN_JAVA_OPTS='-Xmx1g -XX:+UseG1GC'):
#   -Xmx112m           Cairn's live heap is tens of MiB (metadata lives in SQLite, bytes on disk); left to its
#                      ergonomics the JVM commits a quarter of the host's memory and cycles garbage through it
#                      (300-600 MiB RSS on a 24 GiB host, bench/ANALYSIS.md). A collection reads the store a
#                      page at a time and holds no model of it, so the heap does not grow with the store
#                      (bench/run --scale measures it at a million blobs). With Serial GC the whole heap ends up
#                      resident, so this number plus ~125 MiB (JVM, JIT, class data, SQLite) is the peak RSS.
#                      Any -Xmx, -XX:MaxHeapSize or -XX:MaxRAM* in $CAIRN_JAVA_OPTS replaces it.
#   -XX:+UseSerialGC   with a heap this small, Serial has the smallest footprint and pauses of a few ms; any
#                      -XX:+Use...GC in $CAIRN_JAVA_OPTS replaces it.
#   -XX:TrimNativeHeapInterval=1000  (JDK >= 22) hands memory malloc holds free back to the system every second:
#                      a collection's short peaks (the JIT compiling the sweep, SQLite's caches) otherwise stay
#                      resident for good (a 1,000,000-blob collection peaked at 179 MiB with it, 189 without; the
#                      main benchmark run 173 against 178; bench/ANALYSIS.md session 12). Any TrimNativeHeapInterval
#                      in $CAIRN_JAVA_OPTS replaces it.
#   AppCDS             the classes a start loads (~4,800; a third of the start's CPU) are kept in a class-data
#                      archive next to the jar, target/cairn-{serve,cli}-jdkN-<jar and JVM stamps>.jsa: the JVM
#                      writes it when it exits after a run without one (first use, new jar, other JDK), later
#                      starts map it.
#                      -XX:+VerifySharedSpaces checksums it, so a torn or half-written archive is ignored and
#                      rewritten, never used; the JVM's CDS messages are silenced (they are about the archive,
#                      not Cairn). Left out when $CAIRN_JAVA_OPTS mentions -Xshare or an archive, or when the
#                      jar's directory is not writable.
#   AOT cache          on a JDK >= 25, `serve` gets an ahead-of-time cache instead (JEP 483, 514, 515):
#                      target/cairn-serve-jdkN-<stamps>-<options checksum>.aot holds the classes loaded and
#                      linked, the lambdas resolved and the method profiles of a training run of the hot paths,
#                      so a start skips that work and the JIT compiles those paths from the first requests
#                      (bench/ANALYSIS.md, session 11). bin/cairn trains it before the first serve of a jar
#                      (cairn_train_start_cache below, about 15 s once); CAIRN_AOT=off keeps the class-data
#                      archive instead.
#   -Dcairn.native.dir where SQLite's native library is extracted once (target/native), instead of into the
#                      temporary directory at every start.
# $CAIRN_JAVA_OPTS comes last, so it also wins over anything else set here.
# bin/cairn also sets MALLOC_ARENA_MAX=2 unless it is set: glibc otherwise gives busy threads malloc arenas of
# their own (SQLite allocates from every request thread), ~20 MiB more resident for nothing on a small node.
#
# Arguments: the directory of the jar, then Cairn's own arguments (the archive depends on the command).
cairn_jvm_options() {
  local jar_dir=${1:-} command=${2:-} user=" ${CAIRN_JAVA_OPTS:-} " kind major stamp archive stem
  local -a base=(--enable-native-access=ALL-UNNAMED) archived=()
  case $user in
    *" -Xmx"* | *"-XX:MaxHeapSize="* | *"-XX:MaxRAM"*) ;;
    *) base+=(-Xmx112m) ;;
  esac
  case $user in
    *"-XX:+Use"*"GC "*) ;;
    *) base+=(-XX:+UseSerialGC) ;;
  esac
  major=""; [ -n "${CAIRN_JAVA:-}" ] && major=$(cairn_java_major "$CAIRN_JAVA") # once: without a release file it starts a JVM
  case $user in
    *"TrimNativeHeapInterval"*) ;;
    *) if [ "$major" -ge 22 ] 2>/dev/null; then base+=(-XX:TrimNativeHeapInterval=1000); fi ;;
  esac
  # SQLite's native library, extracted once next to the jar rather than into /tmp at every start
  # (dev.cairn.metadata.SqliteNativeLibrary; without this, under the data directory)
  if [ -n "$jar_dir" ] && [ -w "$jar_dir" ]; then base+=("-Dcairn.native.dir=$jar_dir/native"); fi
  # shellcheck disable=SC2206 # word splitting is the point: CAIRN_JAVA_OPTS holds several options
  [ -n "${CAIRN_JAVA_OPTS:-}" ] && base+=(${CAIRN_JAVA_OPTS})
  CAIRN_JVM_BASE_OPTIONS=("${base[@]}")
  CAIRN_AOT_MISSING=""
  case $user in
    *"-Xshare"* | *"SharedArchiveFile"* | *"ArchiveClassesAtExit"* | *"AOTCache"* | *"AOTMode"*) ;;
    *)
      # The JVM does not rewrite an archive whose jar changed, so the name carries the jar's and the JVM's stamps
      # (and, for an AOT cache, which the JVM refuses under other options, a checksum of the options).
      stamp=$(stat -L -c '%Y-%s' "$jar_dir/cairn.jar" "$CAIRN_JAVA" 2>/dev/null | tr '\n' '-') || stamp=""
      if [ -n "$jar_dir" ] && [ -w "$jar_dir" ] && [ -n "$major" ] && [ "$major" -ge 19 ] && [ -n "$stamp" ]; then
        kind=cli; [ "$command" = serve ] && kind=serve
        stem="$jar_dir/cairn-$kind-jdk$major-${stamp%-}"
        if [ "$kind" = serve ] && [ "$major" -ge 25 ] && [ "${CAIRN_AOT:-on}" != off ] && command -v cksum >/dev/null 2>&1; then
          # the options the JVM sees, including those it takes from the environment
          archive="$stem-$(printf '%s\n' "${base[@]}" "${JAVA_TOOL_OPTIONS:-}" "${JDK_JAVA_OPTIONS:-}" | cksum | cut -d' ' -f1).aot"
          if [ ! -f "$archive" ]; then # caches of earlier jars or JVMs (other options' stay); trainings killed long ago
            find "$jar_dir" -maxdepth 1 -name "cairn-$kind-jdk*.aot*" ! -name "${stem##*/}-*" -delete 2>/dev/null || true
            find "$jar_dir" -maxdepth 1 -name "${stem##*/}-*.aot.tmp-*" -mmin +10 -delete 2>/dev/null || true
          fi
          if [ -f "$archive" ]; then
            archived=("-XX:AOTCache=$archive" -XX:+VerifySharedSpaces '-Xlog:aot*=off' '-Xlog:cds*=off')
          elif [ -z "$(find "$jar_dir" -maxdepth 1 -name "${archive##*/}.training.log" -mmin -60 2>/dev/null)" ]; then
            CAIRN_AOT_MISSING=$archive # bin/cairn trains it (cairn_train_start_cache); after a failure, not for an hour
          fi
        fi
        if [ ${#archived[@]} -eq 0 ]; then
          archive="$jar_dir/cairn-$kind-jdk$major-${stamp%-}.jsa"
          if [ ! -f "$archive" ]; then # archives of earlier jars or JVMs: never valid again
            find "$jar_dir" -maxdepth 1 -name "cairn-$kind-jdk*.jsa" ! -name "${archive##*/}" -delete 2>/dev/null || true
          fi
          archived=("-XX:SharedArchiveFile=$archive" -XX:+AutoCreateSharedArchive -XX:+VerifySharedSpaces '-Xlog:cds*=off')
        fi
      fi ;;
  esac
  # the archive options first: CAIRN_JAVA_OPTS, last, still wins
  CAIRN_JVM_OPTIONS=("${base[@]:0:1}" ${archived[@]+"${archived[@]}"} "${base[@]:1}")
  return 0
}

# cairn_train_start_cache JAR: writes the AOT cache cairn_jvm_options found missing ($CAIRN_AOT_MISSING), from a
# training run: JAR's `serve` under the same options, on a temporary data directory and a free loopback port,
# without any CAIRN_* setting of the environment (it must never reach the real storage, database or auth), sent
# what a fleet sends most for a few seconds by curl (manifest GETs by tag, blob HEADs and GETs, the version check,
# misses, build-tool cache writes and reads), then stopped; the JVM writes the cache as it exits. The load comes
# from outside the JVM so the cache holds only the server's classes (a start loads all of them). The cache is
# checked (-XX:AOTMode=on, checksummed) and flushed under a name of its own, then renamed into place, so a start
# only ever finds a whole cache this JVM accepts. A failed training leaves its log (<cache>.training.log) and is
# not tried again within the hour. Every step has a deadline, and an interrupt stops the training's processes.
. "$(dirname "${BASH_SOURCE[0]}")/push.sh"
cairn_train_start_cache() {
  local jar=$1 archive=$CAIRN_AOT_MISSING tmp log partial work port base pid ok=0 i n layer v status
  local -a clients=() clean_env=()
  [ -n "$archive" ] || return 0
  for n in curl sha256sum; do command -v "$n" >/dev/null 2>&1 || return 1; done
  tmp="$archive.tmp-$$"; log="$archive.training.log"; partial="$log.tmp-$$"
  work=$(mktemp -d) || return 1
  for v in $(compgen -e); do case $v in CAIRN_*) clean_env+=(-u "$v") ;; esac; done
  for i in $(seq 50); do # a port nothing listens on (curl: 7 = could not connect)
    port=$((20000 + RANDOM % 12000))
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" && continue
    [ $? = 7 ] && break
  done
  base="http://127.0.0.1:$port"
  echo "cairn: training the start-up cache for this jar, JDK and options (once, about 20 s; CAIRN_AOT=off skips it)" >&2
  env ${clean_env[@]+"${clean_env[@]}"} CAIRN_LOG_ACCESS=false "$CAIRN_JAVA" "${CAIRN_JVM_BASE_OPTIONS[@]}" "-XX:AOTCacheOutput=$tmp" \
    -jar "$jar" serve --listen "127.0.0.1:$port" --data "$work/data" >"$partial" 2>&1 &
  pid=$!
  trap 'kill -KILL $pid ${clients[@]+"${clients[@]}"} 2>/dev/null; rm -rf "$work" "$tmp" "$tmp.config" "$partial"; trap - INT TERM; exit 130' INT TERM
  for i in $(seq 1500); do
    [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$base/v2/")" = 200 ] && { ok=1; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  if [ "$ok" = 1 ]; then
    # one image (a config, a 1 KiB layer, a tagged manifest), then four clients in turn over the hot paths
    cairn_push_small "$base" training/app "$work" || ok=0
    layer=${CAIRN_PUSHED_LAYER:-none}
    # a curl config: one block per request, `next` between them (options otherwise apply to every URL)
    for i in $(seq 1000); do
      printf 'url = "%s"\nheader = "Accept: application/vnd.oci.image.manifest.v1+json"\noutput = /dev/null\nnext\n' "$base/v2/training/app/manifests/latest"
      printf 'url = "%s"\nhead\noutput = /dev/null\nnext\n' "$base/v2/training/app/blobs/$layer"
      printf 'url = "%s"\noutput = /dev/null\nnext\n' "$base/v2/training/app/blobs/$layer" "$base/v2/" "$base/v2/training/app/manifests/missing-$((i % 16))"
      if [ $((i % 8)) = 0 ]; then
        printf 'url = "%s"\nupload-file = "%s"\noutput = /dev/null\nnext\n' "$base/cache/training/$((i % 64))" "$work/layer"
        printf 'url = "%s"\noutput = /dev/null\nnext\n' "$base/cache/training/$((i % 64))"
      fi
    done >"$work/requests"
    sed -i '$ d' "$work/requests" # the last `next`: with no request after it, curl fails
    for i in 1 2 3 4; do curl -s --max-time 60 -K "$work/requests" & clients+=($!); done
    for n in "${clients[@]}"; do wait "$n" || ok=0; done
    clients=()
    kill -0 "$pid" 2>/dev/null || ok=0 # still ours: a JVM that could not bind the port has exited
  fi
  kill "$pid" 2>/dev/null
  for i in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done # the cache is written at exit
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  status=$ok
  trap - INT TERM
  rm -rf "$work"
  if [ "$status" = 1 ] && [ -f "$tmp" ] \
     && "$CAIRN_JAVA" "${CAIRN_JVM_BASE_OPTIONS[@]}" "-XX:AOTCache=$tmp" -XX:AOTMode=on -XX:+VerifySharedSpaces \
        -jar "$jar" --version >>"$partial" 2>&1 \
     && sync "$tmp" && mv -f "$tmp" "$archive"; then
    rm -f "$partial" "$tmp.config"
    return 0
  fi
  rm -f "$tmp" "$tmp.config"
  mv -f "$partial" "$log"
  echo "cairn: could not train the start-up cache (see $log); starting without it" >&2
  return 1
}
