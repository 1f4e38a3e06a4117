# bench/run --scale: collections over stores of growing size, each under push load, with the launcher's
# default heap. Sourced by bench/run after its set-up (packages, build, work directory, load generator),
# so it uses bench/run's helpers. Sizes: SCALE_BLOBS (default 300,000, 1,000,000 and 5,000,000 blobs),
# 10 blobs per manifest over 100 repositories, as the default run's GC phase. Seeding goes through the API
# with fsync off (eatmydata), then everything is synced; the collection itself runs with fsync on.
# Writes the "Collections at scale" section of bench/RESULTS.md (a full run keeps that section, and the PostgreSQL one).
# SCALE_SEED_CACHE=DIR keeps each seeded store in DIR/seed-N and copies it on later runs instead of seeding
# again (5,000,000 blobs take about an hour to seed here); the table's "seeding" column then shows the first run's.
# SCALE_SEED_ONLY=1 (with SCALE_SEED_CACHE) seeds and keeps the stores without collecting; SCALE_SEED_TAKE=1 collects
# on the kept store itself instead of a copy (copying 5,000,000 files takes minutes), which uses it up.
# SCALE_METADATA=postgres runs the same on the fleet's backends instead of one node's SQLite file and local files:
# a real PostgreSQL server (fsync on) and a real S3 API server (S3Proxy over files), started for each store by
# bench/ScaleBackends.java through the tests' fixtures (seeding there turns off the database's synchronous commit
# instead of fsync); its table is a section of its own. It seeds every time (SCALE_SEED_CACHE keeps SQLite stores only).

SCALE_METADATA=${SCALE_METADATA:-sqlite}
case $SCALE_METADATA in
  sqlite) SCALE_HEADING="## Collections at scale" ;;
  postgres)
    SCALE_HEADING="## Collections at scale on PostgreSQL and S3"
    [ -z "${SCALE_SEED_CACHE:-}" ] || die "SCALE_SEED_CACHE keeps SQLite stores only; leave it out with SCALE_METADATA=postgres"
    # the tests' fixtures (compiled by the build above) and their dependencies
    (cd "$root" && ./mvnw -q -B -o dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$WORK/test-classpath.txt" >/dev/null) \
      || (cd "$root" && ./mvnw -q -B dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$WORK/test-classpath.txt" >/dev/null) \
      || die "resolving the test class path for bench/ScaleBackends.java"
    ;;
  *) die "SCALE_METADATA is sqlite or postgres, not $SCALE_METADATA" ;;
esac
NODE_ENV=()

# start_backends N: PostgreSQL and S3 for the store of N blobs (SCALE_METADATA=postgres); sets NODE_ENV to the node's settings
start_backends() {
  local dir=$WORK/backends-$1 line
  mkdir -p "$dir"
  rm -f "$WORK/backends.in" "$WORK/backends.out"
  mkfifo "$WORK/backends.in" "$WORK/backends.out"
  "$CAIRN_JAVA" -Djava.io.tmpdir="$dir" -cp "$root/target/test-classes:$root/target/classes:$(cat "$WORK/test-classpath.txt")" \
    "$root/bench/ScaleBackends.java" <"$WORK/backends.in" >"$WORK/backends.out" 2>>"$WORK/backends-$1.log" &
  BACKENDS_PID=$!
  STARTED+=("$BACKENDS_PID")
  exec {BACKENDS_IN}>"$WORK/backends.in" {BACKENDS_OUT}<"$WORK/backends.out"
  NODE_ENV=()
  while IFS= read -r -t 300 line <&"$BACKENDS_OUT"; do
    case $line in
      ready) return 0 ;;
      CAIRN_*=*) NODE_ENV+=("$line") ;;
    esac
  done
  tail -20 "$WORK/backends-$1.log" >&2
  die "PostgreSQL and S3 did not start (bench/ScaleBackends.java)"
}

# proc_ticks PID: the clock ticks a process has run, in user and kernel mode (its threads', not its children's)
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# cpu_ticks CAIRN_PID: "cairn postgres s3proxy busy idle" ticks so far: the node, every PostgreSQL process, the JVM
# of bench/ScaleBackends.java (S3Proxy), and the whole machine's busy and idle time
cpu_ticks() {
  local cairn pg=0 s3=0 p u n s i w q sq st
  cairn=$(proc_ticks "$1")
  if [ "$SCALE_METADATA" = postgres ]; then
    for p in $(pgrep -x postgres); do pg=$((pg + $(proc_ticks "$p"))); done
    s3=$(proc_ticks "$BACKENDS_PID")
  fi
  read -r _ u n s i w q sq st _ </proc/stat
  echo "$cairn $pg $s3 $((u + n + s + q + sq + st)) $((i + w))"
}

# cpu_spent BEFORE AFTER: where the machine's time went between two cpu_ticks, in seconds
cpu_spent() {
  awk -v a="$1" -v b="$2" -v hz="$(getconf CLK_TCK)" -v pg="$SCALE_METADATA" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= 5; i++) d[i] = (y[i] - x[i]) / hz
    rest = d[4] - d[1] - d[2] - d[3]
    if (pg == "postgres") printf "Cairn %.0f s, PostgreSQL %.0f s, S3Proxy %.0f s, the rest (pushers, checks) %.0f s, idle %.0f s", d[1], d[2], d[3], rest, d[5]
    else printf "Cairn %.0f s, the rest (pushers, checks) %.0f s, idle %.0f s", d[1], rest, d[5]
  }'
}

# backends COMMAND: one of bench/ScaleBackends.java's commands; sets BACKENDS_ANSWER
backends() {
  local line
  echo "$1" >&"$BACKENDS_IN"
  IFS= read -r -t 900 line <&"$BACKENDS_OUT" || die "no answer from bench/ScaleBackends.java to $1"
  [[ $line == "ok $1"* ]] || die "bench/ScaleBackends.java: $line"
  BACKENDS_ANSWER=${line#"ok $1"}; BACKENDS_ANSWER=${BACKENDS_ANSWER# }
}

# stop_backends: both servers stopped and their files removed (end of input)
stop_backends() {
  exec {BACKENDS_IN}>&- {BACKENDS_OUT}<&-
  wait "$BACKENDS_PID" 2>/dev/null || true
  local keep=() p
  for p in "${STARTED[@]}"; do [ "$p" = "$BACKENDS_PID" ] || keep+=("$p"); done
  STARTED=("${keep[@]}")
}

SCALE_TSV=$WORK/scale.tsv
SCALE_PHASES=$WORK/scale-phases.tsv
: >"$SCALE_PHASES"
printf 'wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"\n' >"$WORK/accept.lua"
: >"$SCALE_TSV"
P_SCALE=$(free_port)
SCALE_REPOS=100
SCALE_LOAD_S=${SCALE_LOAD_S:-10}
SCALE_PER_MANIFEST=10
for total in $SCALE_BLOBS; do
  per_repo=$(( total / (SCALE_REPOS * SCALE_PER_MANIFEST) ))
  manifests=$(( per_repo * SCALE_REPOS ))
  data=$WORK/scale-$total
  kept=${SCALE_SEED_CACHE:+$SCALE_SEED_CACHE/seed-$total}
  if [ -n "$kept" ] && [ -f "$kept/.seeded" ]; then
    phase "scale-$total" "scale: copying the kept store of $total blobs from $kept"
    seed_line=$(cat "$kept/.seeded")
    stored=$(cat "$kept/.stored")
    rm -rf "$data"
    if [ "${SCALE_SEED_TAKE:-0}" = 1 ]; then mv "$kept" "$data"; else cp -a "$kept" "$data"; fi
    sync
    seed_done=$(date +%s)
  else
  if [ "$SCALE_METADATA" = postgres ]; then
    start_backends "$total"
    backends seeding
  fi
  phase "scale-$total" "scale: seeding $total blobs in $manifests manifests ($SCALE_REPOS repositories) through the API, fsync off"
  # The seeding node collects on its default interval, as a live node does while its store grows: what the
  # measured collection then looks at is what changed since the last one, not everything the seeding wrote.
  start_cairn "scale-seed-$total" "$P_SCALE" "$data" "${NODE_ENV[@]}" CAIRN_RETENTION_MAX_BYTES=1TiB -- eatmydata
  seed_pid=$PID
  lg seed --url "http://127.0.0.1:$P_SCALE" --repos "$SCALE_REPOS" --per-repo "$per_repo" --blobs "$SCALE_PER_MANIFEST" --single-post \
    --clients 32 || die "seeding $total blobs"
  seed_line=$LG_OUT
  seed_done=$(date +%s)
  stored=$(curl -s "http://127.0.0.1:$P_SCALE/api/v1/stats" | grep -o '"storedBytes":[0-9]*' | cut -d: -f2)
  [ -n "$stored" ] || die "no storedBytes from /api/v1/stats"
  seed_rss=$(peak_rss_mib "$seed_pid")
  stop_pid "$seed_pid"
  if [ "$SCALE_METADATA" = postgres ]; then
    backends durable
    backends size
    log "  PostgreSQL database: $BACKENDS_ANSWER bytes"
  fi
  sync
  log "  seeded: $seed_line; peak RSS $seed_rss MiB"
  if [ -n "$kept" ]; then
    # the store as seeded, for later runs (SCALE_SEED_CACHE): a collection changes its copy, never this one
    rm -rf "$kept"; mkdir -p "$SCALE_SEED_CACHE"
    if [ "${SCALE_SEED_ONLY:-0}" = 1 ]; then mv "$data" "$kept"; mkdir -p "$data"; else cp -a "$data" "$kept"; fi
    echo "$stored" >"$kept/.stored"
    echo "$seed_line" >"$kept/.seeded"
    sync
  fi
  fi
  if [ "${SCALE_SEED_ONLY:-0}" = 1 ]; then
    log "  SCALE_SEED_ONLY: the store is kept in $kept; no collection"
    rm -rf "$data"
    continue
  fi
  budget=$((stored * 100 / 170))
  # The node under ordinary load first, without a budget to keep (so no collection starts): GET manifest at 64
  # connections while 8 clients push new images, then GET alone; its peak RSS is what the collection's is
  # compared with. The same launcher and settings as the collecting node, a process of its own.
  start_cairn "scale-base-$total" "$P_SCALE" "$data" "${NODE_ENV[@]}" CAIRN_RETENTION_MAX_BYTES=1TiB CAIRN_RETENTION_GRACE=${GC_GRACE_S}s \
    CAIRN_RETENTION_UNTAGGED=keep CAIRN_RETENTION_GC_INTERVAL=1h
  base_pid=$PID
  newest=$(( manifests - 1 ))
  wrk -t2 -c64 -d"${SCALE_LOAD_S}s" -s "$WORK/accept.lua" \
    "http://127.0.0.1:$P_SCALE/v2/gc/app-$(( newest % SCALE_REPOS ))/manifests/t$(( newest / SCALE_REPOS ))" >/dev/null 2>&1 &
  wrk_pid=$!
  lg seed --url "http://127.0.0.1:$P_SCALE" --repos "$SCALE_REPOS" --per-repo 10 --offset "$manifests" --blobs "$SCALE_PER_MANIFEST" \
    --single-post --clients 8 || die "pushing under load"
  wait "$wrk_pid" || true
  wrk -t2 -c64 -d"${SCALE_LOAD_S}s" -s "$WORK/accept.lua" \
    "http://127.0.0.1:$P_SCALE/v2/gc/app-$(( (newest - 1) % SCALE_REPOS ))/manifests/t$(( (newest - 1) / SCALE_REPOS ))" >/dev/null 2>&1 || true
  load_rss=$(peak_rss_mib "$base_pid")
  stop_pid "$base_pid"
  log "  peak RSS under ordinary load (GET manifest at 64 connections with 8 clients pushing, then GET alone; ${SCALE_LOAD_S} s each): $load_rss MiB"
  start_cairn "scale-$total" "$P_SCALE" "$data" "${NODE_ENV[@]}" CAIRN_RETENTION_MAX_BYTES="$budget" CAIRN_RETENTION_GRACE=${GC_GRACE_S}s \
    CAIRN_RETENTION_UNTAGGED=keep CAIRN_RETENTION_GC_INTERVAL=1h
  gc_pid=$PID
  log "  restarted with a budget of $budget bytes (stored $stored): first 200 after $START_MS ms"
  # past the seeded entries' read protection, as in bench/run's GC phase
  while [ $(( $(date +%s) - seed_done )) -le $(( GC_GRACE_S * 3 / 2 + 1 )) ]; do sleep 0.5; done
  cpu_before=$(cpu_ticks "$gc_pid")
  if lg gc-under-load --url "http://127.0.0.1:$P_SCALE" --pushers 8 --delay-ms 300 --after-ms 2000 --limit-s "$GC_LIMIT_S"; then
    gc_line=$LG_OUT
  else
    gc_line="took_ms=failed $LG_OUT"
  fi
  cpu=$(cpu_spent "$cpu_before" "$(cpu_ticks "$gc_pid")")
  failures=$(curl -s --max-time 10 "http://127.0.0.1:$P_SCALE/metrics" | awk '/^cairn_gc_failures_total/ {printf "%d", $2}' || true)
  alive=yes
  kill -0 "$gc_pid" 2>/dev/null || alive=no
  gc_rss=$(peak_rss_mib "$gc_pid" 2>/dev/null || echo nan)
  log "  collection: $gc_line; collector failures ${failures:-?}; peak RSS $gc_rss MiB; process alive: $alive; CPU: $cpu"
  # the first collection since the start is the one asked for (pushes over the budget may start more after it)
  phases=$(grep -o 'collection: evicted.* ms (.*)' "$WORK/scale-$total.log" | head -1 | sed 's/.* ms (\(.*\))$/\1/' || true)
  printf '%s\t%s; CPU used meanwhile: %s\n' "$total" "${phases:-not logged}" "$cpu" >>"$SCALE_PHASES"
  stop_pid "$gc_pid"
  took=$(kv took_ms "$gc_line")
  deleted=$(kv deleted_blobs "$gc_line")
  rate=nan
  if [[ $took =~ ^[0-9]+$ ]] && [ "$took" -gt 0 ]; then rate=$(awk -v d="$deleted" -v t="$took" 'BEGIN {printf "%.0f", d * 1000 / t}'); fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$total" "$manifests" "$stored" "$took" "$deleted" "$rate" "$gc_rss" "$load_rss" \
    "$(kv push_errors "$gc_line")" "$(kv missing_after "$gc_line")" "${failures:-?}" "$(kv seconds "$seed_line")" >>"$SCALE_TSV"
  [ -d "$data/blobs/sha256" ] && find "$data/blobs/sha256" -mindepth 1 -maxdepth 1 -print0 | xargs -0 -r -P 4 rm -rf
  rm -rf "$data"
  if [ "$SCALE_METADATA" = postgres ]; then stop_backends; rm -rf "$WORK/backends-$total"; fi
done

SCALE_SECTION=$WORK/scale.md
{
  echo "$SCALE_HEADING"
  echo
  echo "Printed by \`bench/run --scale\` on $(date -u '+%Y-%m-%d %H:%M UTC') ($CORES cores, $MEM_GIB GiB, $FS_DESC; $JDK_DESC; Cairn with the"
  if [ "$SCALE_METADATA" = postgres ]; then
    echo "launcher's default heap; SCALE_METADATA=postgres: metadata in a PostgreSQL 17 server (fsync on; the node's default pool of 16"
    echo "connections) and blobs in S3Proxy over files, both on this machine, as a fleet's nodes share them; RSS is Cairn's alone)."
    echo "Each store: 10 blobs of 512-2047 bytes per tagged manifest over 100 repositories, seeded through the API (the database's"
    echo "synchronous commit off, then a checkpoint); Cairn restarted"
  else
    echo "launcher's default heap). Each store: 10 blobs of 512-2047 bytes per tagged manifest over 100 repositories, seeded through the API"
    echo "(fsync off, then synced); Cairn restarted"
  fi
  echo "with a budget of stored ÷ 1.7, then \`POST /api/v1/gc\` while 8 clients push images"
  echo "(limit ${GC_LIMIT_S} s). \"failed\" is a collection that answered an error; RSS is the node's peak (VmHWM) during the collection,"
  echo "against the peak of the same node under ordinary load, without a budget, just before (GET manifest at 64 connections while 8 clients"
  echo "push 1,000 new images, then GET alone, ${SCALE_LOAD_S} s each; target: at most 1.2x);"
  echo "\"images missing\" counts images the pushers were told were stored whose manifest or a blob did not answer 200 at the check afterwards."
  echo
  echo "| blobs | manifests | stored bytes | collection | blobs deleted | deleted/s | peak RSS | RSS / under load | push errors | images missing | collector failures | seeding |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  while IFS=$'\t' read -r total manifests stored took deleted rate rss load_rss errors lost failures seeded; do
    case $took in
      failed) shown=failed ;;
      -1) shown="over ${GC_LIMIT_S} s" ;;
      *) shown=$(awk -v t="$took" 'BEGIN {printf "%.1f s", t / 1000}') ;;
    esac
    ratio=$(awk -v a="$rss" -v b="$load_rss" 'BEGIN {if (b > 0 && a ~ /^[0-9]+$/) printf "%.2fx (%s MiB)", a / b, b; else print "nan"}')
    echo "| $total | $manifests | $stored | $shown | $deleted | $rate | $rss MiB | $ratio | $errors | $lost | $failures | ${seeded} s |"
  done <"$SCALE_TSV"
  echo
  echo "Where each collection's time went (its log line), and where the machine's ($CORES cores) went meanwhile:"
  echo
  while IFS=$'\t' read -r total phases; do echo "- $total blobs: $phases"; done <"$SCALE_PHASES"
} >"$SCALE_SECTION"
echo
cat "$SCALE_SECTION"
if [ -f "$root/bench/RESULTS.md" ]; then
  # Replace the section (it runs to the end of the file, or to the next "## " heading) or append it.
  awk -v section="$SCALE_SECTION" -v heading="$SCALE_HEADING" '
    $0 == heading { while ((getline line < section) > 0) print line; skipping = 1; next }
    skipping && /^## / { skipping = 0 }
    !skipping { print }' "$root/bench/RESULTS.md" >"$WORK/RESULTS.new"
  grep -qxF "$SCALE_HEADING" "$WORK/RESULTS.new" || { echo; cat "$SCALE_SECTION"; } >>"$WORK/RESULTS.new"
  cp "$WORK/RESULTS.new" "$root/bench/RESULTS.md"
else
  cp "$SCALE_SECTION" "$root/bench/RESULTS.md"
fi
log "done in $(( $(date +%s) - T_START )) s; the table is in bench/RESULTS.md"
