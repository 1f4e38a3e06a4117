# Sourced by bin/lib/jvm.sh (the start-up cache's training), bench/run and bench/profile: one small image pushed
# with curl alone.
#
# cairn_push_small BASE REPO DIR: pushes a config, a 1 KiB random layer and a manifest tagged `latest` to the
# registry at BASE (http://host:port) as REPO, by monolithic uploads, with files under DIR; sets
# CAIRN_PUSHED_LAYER to the layer's digest. Non-zero when any request fails.
cairn_push_small() {
  local base=$1 repo=$2 dir=$3 n d loc sep
  printf '{"architecture":"amd64","os":"linux"}' >"$dir/config"; head -c 1024 /dev/urandom >"$dir/layer"
  for n in config layer; do
    d="sha256:$(sha256sum "$dir/$n" | cut -d' ' -f1)"
    loc=$(curl -sf --max-time 10 -D - -o /dev/null -X POST "$base/v2/$repo/blobs/uploads/" | awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
    [ -n "$loc" ] || return 1
    case $loc in http*) ;; *) loc="$base$loc" ;; esac
    sep='?'; [[ $loc == *\?* ]] && sep='&'
    curl -sf --max-time 10 -X PUT --data-binary "@$dir/$n" -H 'Content-Type: application/octet-stream' "$loc${sep}digest=$d" -o /dev/null || return 1
    printf '%s' "$d" >"$dir/$n.digest"
  done
  CAIRN_PUSHED_LAYER=$(cat "$dir/layer.digest")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":1024}]}' \
    "$(cat "$dir/config.digest")" "$(stat -c%s "$dir/config")" "$CAIRN_PUSHED_LAYER" >"$dir/manifest"
  curl -sf --max-time 10 -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$dir/manifest" \
    "$base/v2/$repo/manifests/latest" -o /dev/null
}
