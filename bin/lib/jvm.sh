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
#   AppCDS             the classes a start loads (~4,800; a third of the start's CPU) are kept in a class-data
#                      archive next to the jar, target/cairn-{serve,cli}-jdkN-<jar and JVM stamps>.jsa: the JVM
#                      writes it when it exits after a run without one (first use, new jar, other JDK), later
#                      starts map it.
#                      -XX:+VerifySharedSpaces checksums it, so a torn or half-written archive is ignored and
#                      rewritten, never used; the JVM's CDS messages are silenced (they are about the archive,
#                      not Cairn). Left out when $CAIRN_JAVA_OPTS mentions -Xshare or an archive, or when the
#                      jar's directory is not writable.
#   AOT cache          on a JDK >= 25, `serve` gets an ahead-of-time cache instead (JEP 483, 514, 515):
#                      target/cairn-serve-jdkN-<stamps>.aot holds the classes loaded and linked, the lambdas
#                      resolved and the method profiles of a run, so a start skips that work and the JIT compiles
#                      the hot paths from the first requests (bench/ANALYSIS.md, session 11: start 2.3 s -> 1.3 s
#                      on two cores). The run without one is the training run: at its exit the JVM writes the
#                      cache (about 6 s more on two cores, once per jar and JDK). A truncated or corrupted
#                      cache is refused by the JVM (-XX:+VerifySharedSpaces), which then starts without it.
#   -Dcairn.native.dir where SQLite's native library is extracted once (target/native), instead of into the
#                      temporary directory at every start.
# $CAIRN_JAVA_OPTS comes last, so it also wins over anything else set here.
# bin/cairn also sets MALLOC_ARENA_MAX=2 unless it is set: glibc otherwise gives busy threads malloc arenas of
# their own (SQLite allocates from every request thread), ~20 MiB more resident for nothing on a small node.
#
# Arguments: the directory of the jar, then Cairn's own arguments (the archive depends on the command).
cairn_jvm_options() {
  local jar_dir=${1:-} command=${2:-} user=" ${CAIRN_JAVA_OPTS:-} " kind major stamp archive
  CAIRN_JVM_OPTIONS=(--enable-native-access=ALL-UNNAMED)
  case $user in
    *" -Xmx"* | *"-XX:MaxHeapSize="* | *"-XX:MaxRAM"*) ;;
    *) CAIRN_JVM_OPTIONS+=(-Xmx112m) ;;
  esac
  case $user in
    *"-XX:+Use"*"GC "*) ;;
    *) CAIRN_JVM_OPTIONS+=(-XX:+UseSerialGC) ;;
  esac
  case $user in
    *"-Xshare"* | *"SharedArchiveFile"* | *"ArchiveClassesAtExit"* | *"AOTCache"* | *"AOTMode"*) ;;
    *)
      major=$(cairn_java_major "$CAIRN_JAVA")
      # The JVM does not rewrite an archive whose jar changed, so the name carries the jar's and the JVM's stamps.
      stamp=$(stat -L -c '%Y-%s' "$jar_dir/cairn.jar" "$CAIRN_JAVA" 2>/dev/null | tr '\n' '-') || stamp=""
      if [ -n "$jar_dir" ] && [ -w "$jar_dir" ] && [ -n "$major" ] && [ "$major" -ge 19 ] && [ -n "$stamp" ]; then
        kind=cli; [ "$command" = serve ] && kind=serve
        if [ "$kind" = serve ] && [ "$major" -ge 25 ]; then
          archive="$jar_dir/cairn-$kind-jdk$major-${stamp%-}.aot"
        else
          archive="$jar_dir/cairn-$kind-jdk$major-${stamp%-}.jsa"
        fi
        if [ ! -f "$archive" ]; then # archives of earlier jars or JVMs (and a training run's leftovers): never valid again
          find "$jar_dir" -maxdepth 1 -name "cairn-$kind-jdk*" ! -name "${archive##*/}" -delete 2>/dev/null || true
        fi
        case $archive in
          *.aot)
            if [ -f "$archive" ]; then CAIRN_JVM_OPTIONS+=("-XX:AOTCache=$archive" -XX:+VerifySharedSpaces)
            else CAIRN_JVM_OPTIONS+=("-XX:AOTCacheOutput=$archive"); fi
            CAIRN_JVM_OPTIONS+=('-Xlog:aot*=off' '-Xlog:cds*=off') ;;
          *) CAIRN_JVM_OPTIONS+=("-XX:SharedArchiveFile=$archive" -XX:+AutoCreateSharedArchive -XX:+VerifySharedSpaces '-Xlog:cds*=off') ;;
        esac
      fi ;;
  esac
  # SQLite's native library, extracted once next to the jar rather than into /tmp at every start
  # (dev.cairn.metadata.SqliteNativeLibrary; without this, under the data directory)
  if [ -n "$jar_dir" ] && [ -w "$jar_dir" ]; then CAIRN_JVM_OPTIONS+=("-Dcairn.native.dir=$jar_dir/native"); fi
  # shellcheck disable=SC2206 # word splitting is the point: CAIRN_JAVA_OPTS holds several options
  [ -n "${CAIRN_JAVA_OPTS:-}" ] && CAIRN_JVM_OPTIONS+=(${CAIRN_JAVA_OPTS})
  return 0
}
