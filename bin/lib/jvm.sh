# Sourced by bin/cairn (and by bench/run, which starts Cairn through bin/cairn and describes these options):
# the JVM options Cairn runs with.
#
# cairn_jvm_options: sets the array CAIRN_JVM_OPTIONS from the defaults below and $CAIRN_JAVA_OPTS.
#
# Defaults, each left out when $CAIRN_JAVA_OPTS sets its own (e.g. CAIRN_JAVA_OPTS='-Xmx1g -XX:+UseG1GC'):
#   -Xmx128m           Cairn's live heap is tens of MiB (metadata lives in SQLite, bytes on disk); left to its
#                      ergonomics the JVM commits a quarter of the host's memory and cycles garbage through it
#                      (300-600 MiB RSS on a 24 GiB host, bench/ANALYSIS.md). Any -Xmx, -XX:MaxHeapSize or
#                      -XX:MaxRAM* in $CAIRN_JAVA_OPTS replaces it.
#   -XX:+UseSerialGC   with a heap this small, Serial has the smallest footprint and pauses of a few ms; any
#                      -XX:+Use...GC in $CAIRN_JAVA_OPTS replaces it.
# $CAIRN_JAVA_OPTS comes last, so it also wins over anything else set here.
cairn_jvm_options() {
  local user=" ${CAIRN_JAVA_OPTS:-} "
  CAIRN_JVM_OPTIONS=(--enable-native-access=ALL-UNNAMED)
  case $user in
    *" -Xmx"* | *"-XX:MaxHeapSize="* | *"-XX:MaxRAM"*) ;;
    *) CAIRN_JVM_OPTIONS+=(-Xmx128m) ;;
  esac
  case $user in
    *"-XX:+Use"*"GC "*) ;;
    *) CAIRN_JVM_OPTIONS+=(-XX:+UseSerialGC) ;;
  esac
  # shellcheck disable=SC2206 # word splitting is the point: CAIRN_JAVA_OPTS holds several options
  [ -n "${CAIRN_JAVA_OPTS:-}" ] && CAIRN_JVM_OPTIONS+=(${CAIRN_JAVA_OPTS})
  return 0
}
