#!/usr/bin/env bash
# The README's first command: install what is missing, build the tool and its interposer (nothing
# else: tests and benchmarks are the second command's job), run the main job on a default node.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" release "$top/build" vkfd
exec "$top/build/bin/vkfd" run --gpus 4 -- rocminfo
