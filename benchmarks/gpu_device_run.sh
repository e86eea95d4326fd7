#!/usr/bin/env bash
# The device check in one call: the matmul rate, every paper-tier shape's step speed
# (benchmarks/gpu_step.py) and the transience pilot (benchmarks/transience_pilot.py), with results
# under $OUT. On a machine with a GPU (see docs/measurements/README.md):
#     run(command="bash benchmarks/gpu_device_run.sh", timeout_s=590)
# then copy the returned files into docs/measurements/ and commit them. Without CUDA (a CPU check
# of this script) both run at tiny sizes for a few seconds.
# Time: gpu_step stops starting cases after 180 s (killed at 210 s); the pilot trains 5 minutes
# (killed at 340 s, its curve is written at every evaluation); about 9.5 minutes in all.
set -u
OUT=${OUT:-/tmp/icl_study_gpu_out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1;
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } > "$OUT/device.txt" 2>&1
if $PY -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    STEP_ARGS="--budget-s 180"; PILOT_ARGS="--minutes 5"; STEP_LIMIT=210; PILOT_LIMIT=340
else
    STEP_ARGS="--tiny --min-seconds 0.05 --min-steps 1"; PILOT_ARGS="--tiny --minutes 0.1"; STEP_LIMIT=300; PILOT_LIMIT=300
fi
timeout $STEP_LIMIT $PY benchmarks/gpu_step.py $STEP_ARGS --out "$OUT/gpu_step.json" > "$OUT/gpu_step.log" 2>&1
echo "gpu_step exit $?" >> "$OUT/gpu_step.log"
cat "$OUT/gpu_step.log"
timeout $PILOT_LIMIT $PY benchmarks/transience_pilot.py $PILOT_ARGS --out "$OUT/pilot" > "$OUT/pilot.log" 2>&1
echo "pilot exit $?" >> "$OUT/pilot.log"
cat "$OUT/pilot.log"
