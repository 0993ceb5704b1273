# free_port_base: a port base P for `stowage dev --port-base P` with every
# port it binds free on 127.0.0.1 (P, P+1, P+11..P+19, P+100, P+111..P+119,
# P+150), derived from $$ so parallel runs do not collide, and below the
# kernel's ephemeral port range: a port in it can be taken by any outgoing
# connection between this check and the node's bind (the likely cause of
# a test_topology node once failing to publish its middleman port 13 ms
# after binding its HTTP port on the same address). Prints
# P, or says why not on stderr and returns 1. Sourced by bench/lib.sh and
# tests/integration/cluster_lib.sh, not run.
free_port_base() {
  local lo=32768 slots base tries
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  slots=$(((lo - 20000 - 160) / 160))
  ((slots >= 8)) || slots=240 # an ephemeral range starting that low cannot be avoided
  base=$((20000 + ($$ % slots) * 160))
  for tries in $(seq 1 40); do
    if python3 - "$base" <<'PY'
import socket, sys
b = int(sys.argv[1])
for off in [0, 1, *range(11, 20), 100, *range(111, 120), 150]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", b + off))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
PY
    then echo "$base"; return 0; fi
    base=$((base + 160)); ((base >= 20000 + slots * 160)) && base=20000
  done
  echo "no free port range found" >&2; return 1
}
