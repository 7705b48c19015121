#!/usr/bin/env bash
# rocminfo (Debian's 5.2.3, unmodified) under `vkfd run`: exits 0 and lists EXPECTED gfx90a agents,
# each with the topology's VRAM as a coarse-grained pool (64 GiB = 67108864 KB) and its caches (L1 16 KB,
# L2 8192 KB), and one CPU agent. In an XGMI hive ROCr 5.2 also exposes each GPU's VRAM as a
# fine-grained pool (GpuAgent::InitRegionList: HiveID != 0); pass --hive to require that.
# usage: rocminfo_test.sh VKFD EXPECTED [--hive] [vkfd run options...]
set -u
vkfd=$1; expected=$2; shift 2
hive=0
if [ "${1:-}" = "--hive" ]; then hive=1; shift; fi
out=$(timeout 60 "$vkfd" run "$@" -- rocminfo 2>/dev/null)
rc=$?
fail() { echo "FAIL: $*"; echo "$out" | head -80; exit 1; }
[ "$rc" -eq 0 ] || fail "rocminfo exited with $rc"

# One line per GPU agent: "name coarse_kb fine_kb l1_kb l2_kb".
agents=$(awk '
  /^Agent [0-9]+/ { if (type == "GPU") print name, coarse, fine, l1, l2
                    type = ""; name = ""; coarse = 0; fine = 0; l1 = 0; l2 = 0; seg = "" }
  /^  Name:/        { name = $2 }
  /^  Device Type:/ { type = $3 }
  /^    L1:/        { l1 = $2 }
  /^    L2:/        { l2 = $2 }
  /^      Segment:/ { seg = $0 }
  /^      Size:/    { if (seg ~ /GLOBAL; FLAGS: COARSE GRAINED/) coarse = $2
                      if (seg ~ /GLOBAL; FLAGS: FINE GRAINED/) fine = $2 }
  END               { if (type == "GPU") print name, coarse, fine, l1, l2 }
' <<<"$out")

gpus=$(grep -c . <<<"$agents")
[ "$gpus" -eq "$expected" ] || fail "expected $expected GPU agents, got $gpus"
n=0
while read -r name coarse fine l1 l2; do
  n=$((n + 1))
  [ "$name" = gfx90a ] || fail "GPU agent $n is '$name', not gfx90a"
  [ "$coarse" = "67108864(0x4000000)" ] || fail "GPU agent $n: coarse-grained VRAM pool '$coarse'"
  if [ "$hive" -eq 1 ]; then
    [ "$fine" = "67108864(0x4000000)" ] || fail "GPU agent $n: no fine-grained VRAM pool in the hive"
  else
    [ "$fine" = 0 ] || fail "GPU agent $n: unexpected fine-grained VRAM pool '$fine' outside a hive"
  fi
  [ "$l1" = "16(0x10)" ] || fail "GPU agent $n: L1 '$l1'"
  [ "$l2" = "8192(0x2000)" ] || fail "GPU agent $n: L2 '$l2'"
done <<<"$agents"
[ "$(grep -cE 'Device Type: +CPU' <<<"$out")" -eq 1 ] || fail "one CPU agent"
echo "ok: $expected gfx90a agents with 64 GiB VRAM pools, L1 16 KB, L2 8192 KB"
