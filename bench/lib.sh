# Shared helpers for the benchmarks: free ports, an OCI layout generator, the
# anchor registry (Debian's docker-registry = CNCF distribution 2.8), timing.
# Sourced, not run.

# A port nobody listens on, from a base derived from the PID.
free_port() {
  local p=$(( ${1:-20000} + ($$ % 5000) ))
  while (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p + 1)); done
  echo $p
}

wait_http() { # URL [seconds]
  local i
  for ((i = 0; i < ${2:-20} * 10; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2; return 1
}

# make_oci_layout DIR TAG LAYERS MIB_PER_LAYER: an OCI image layout with
# incompressible (random) gzip layers, made here, no download. Gzip, because
# skopeo compresses plain tar layers on push and would time its own gzip.
make_oci_layout() {
  local dir=$1 tag=$2 layers=$3 mib=$4
  python3 - "$dir" "$tag" "$layers" "$mib" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
d, tag, n, mib = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(f"{d}/blobs/sha256", exist_ok=True)
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open(f"{d}/blobs/sha256/{h}", "wb").write(data)
    return h
layers, diff_ids = [], []
for i in range(n):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        payload = os.urandom(mib * 1024 * 1024)
        info = tarfile.TarInfo(f"data/layer{i}.bin"); info.size = len(payload); info.mode = 0o644
        t.addfile(info, io.BytesIO(payload))
    tar = buf.getvalue()
    data = gzip.compress(tar, compresslevel=1, mtime=0); h = put(data)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + h, "size": len(data)})
    diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
ch = put(config)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + ch, "size": len(config)},
    "layers": layers}).encode()
mh = put(manifest)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:" + mh, "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}}]},
    open(f"{d}/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{d}/oci-layout", "w"))
PY
}

# start_distribution DIR PORT: Debian's docker-registry on 127.0.0.1:PORT; sets DIST_PID.
start_distribution() {
  local dir=$1 port=$2
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<YML
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $dir/data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
YML
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  DIST_PID=$!
  wait_http "http://127.0.0.1:$port/v2/"
}

# seconds CMD…: runs CMD, prints its wall time in seconds (3 decimals).
seconds() {
  local t0 t1
  t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
  t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
