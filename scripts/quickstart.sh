#!/usr/bin/env bash
# The README's first command: install what is missing, build, run the main job on a default node.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" release "$top/build"
exec "$top/build/bin/vkfd" run --gpus 4 -- rocminfo
