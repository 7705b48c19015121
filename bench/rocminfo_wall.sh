#!/usr/bin/env bash
# Wall time of `vkfd run --gpus N -- rocminfo` (the README's main job), as the median of RUNS runs,
# beside the wall time of `vkfd run -- true` (exec of the tool and of a program under the interposer)
# measured in the same loop.
# usage: bench/rocminfo_wall.sh [VKFD] [GPUS] [RUNS]     (default build/bin/vkfd 4 21)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
vkfd=${1:-$top/build/bin/vkfd}; gpus=${2:-4}; runs=${3:-21}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { date +%s%N; }
: >/tmp/vkfd-wall-rocminfo.$$; : >/tmp/vkfd-wall-true.$$
for _ in $(seq "$runs"); do
  t0=$(now); "$vkfd" run --gpus "$gpus" -- rocminfo >/dev/null 2>&1; t1=$(now)
  "$vkfd" run --gpus "$gpus" -- true; t2=$(now)
  echo $(( (t1 - t0) / 1000 )) >>/tmp/vkfd-wall-rocminfo.$$
  echo $(( (t2 - t1) / 1000 )) >>/tmp/vkfd-wall-true.$$
done
r=$(median </tmp/vkfd-wall-rocminfo.$$); t=$(median </tmp/vkfd-wall-true.$$)
rm -f /tmp/vkfd-wall-rocminfo.$$ /tmp/vkfd-wall-true.$$
awk -v g="$gpus" -v r="$r" -v t="$t" -v n="$runs" 'BEGIN {
  printf "vkfd run --gpus %s -- rocminfo: median %.1f ms over %s runs (vkfd run -- true: %.1f ms)\n",
         g, r / 1000, n, t / 1000 }'
