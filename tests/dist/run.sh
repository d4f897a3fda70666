#!/usr/bin/env bash
# Data-parallel tests under mpirun, 2 ranks on this machine (a section of scripts/test):
#   collectives at -np 1/2/3; a rank that stops answering -> the others fail with a timeout, the job ends;
#   determinism: the same global batch (8 envs) at -np 1 and -np 2 -> the same parameters after 3 updates (1e-5) and
#   the same metrics; fault: rank 1 kill -9'd mid-update -> the job ends within 60 s with a clear error, the last
#   checkpoint loads, and resume = true under mpirun finishes the run with the uninterrupted run's parameters.
# Last line: "dist: P passed, F failed"; exit status non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
B="${MOONLAB:-$PWD/.build/debug/moonlab}"
export MOONLAB_STDLIB="$PWD/stdlib"
export OMPI_MCA_btl_vader_single_copy_mechanism=none  # no CMA warnings inside containers
MPI=(mpirun --allow-run-as-root --oversubscribe)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { echo "ok   dist: $1"; pass=$((pass + 1)); }
bad() { echo "FAIL dist: $1"; fail=$((fail + 1)); }
now() { date +%s.%N; }

# 1. collectives
for np in 1 2 3; do
  if "${MPI[@]}" -np $np "$B" run tests/dist/collectives.lua >"$tmp/coll.log" 2>&1; then ok "collectives at -np $np"
  else bad "collectives at -np $np"; cat "$tmp/coll.log"; fi
done
if "$B" run tests/dist/collectives.lua >"$tmp/coll.log" 2>&1; then ok "collectives without mpirun (world of 1)"
else bad "collectives without mpirun"; cat "$tmp/coll.log"; fi

# 2. a rank that stops answering: the other times out, MPI_Abort ends the job
t0=$(now)
MOONLAB_DIST_TIMEOUT=2 "${MPI[@]}" -np 2 "$B" -e 'if moon.dist.rank() == 1 then local t = moon.clock(); while moon.clock() - t < 30 do end end
  moon.dist.barrier()' >"$tmp/hang.log" 2>&1
rc=$?
dt=$(echo "$(now) - $t0" | bc)
if [ $rc -ne 0 ] && grep -q "moon.dist.barrier: timed out after 2 s" "$tmp/hang.log" && (( $(echo "$dt < 20" | bc) )); then
  ok "hung rank: timeout error, job ended in ${dt%.*} s"
else bad "hung rank (rc $rc, ${dt} s)"; cat "$tmp/hang.log"; fi

# 3. determinism: -np 1 vs -np 2, GTR-Turbo (KL) with a custom Lua reward, 3 updates
"$B" run tests/dist/train.lua turbo-kl "$tmp/np1" "$tmp/np1.safetensors" 3 >"$tmp/np1.log" 2>&1 || { cat "$tmp/np1.log"; }
"${MPI[@]}" -np 2 "$B" run tests/dist/train.lua turbo-kl "$tmp/np2" "$tmp/np2.safetensors" 3 >"$tmp/np2.log" 2>&1 || { cat "$tmp/np2.log"; }
if "$B" run tests/dist/compare.lua "$tmp/np1.safetensors" "$tmp/np2.safetensors" 1e-5; then ok "-np 1 and -np 2 agree after 3 updates"
else bad "-np 1 vs -np 2"; fi
[ -f "$tmp/np2/checkpoints/state-000003.json" ] && [ ! -e "$tmp/np2/rank-1" ] && ok "rank 0 alone wrote the run directory" \
  || bad "run directory of the -np 2 run"

# 4. fault: kill -9 rank 1 during update 2, then resume under mpirun
mkdir -p "$tmp/pids"
DIST_TEST_PIDS="$tmp/pids" "${MPI[@]}" -np 2 "$B" run tests/dist/train.lua turbo-kl "$tmp/fault" "$tmp/fault.safetensors" 3 \
  >"$tmp/fault.log" 2>&1 &
job=$!
for _ in $(seq 1 600); do [ -f "$tmp/fault/checkpoints/state-000001.json" ] && break; sleep 0.1; done
sleep 1
t0=$(now)
victim=$(cat "$tmp/pids/rank-1" 2>/dev/null)
[ -n "$victim" ] && kill -9 "$victim"
while kill -0 $job 2>/dev/null && (( $(echo "$(now) - $t0 < 90" | bc) )); do sleep 0.2; done
kill -0 $job 2>/dev/null && { kill -9 $job; bad "fault: the job still ran 90 s after the kill"; }
wait $job; rc=$?
dt=$(echo "$(now) - $t0" | bc)
last=$(ls "$tmp/fault/checkpoints"/state-*.json 2>/dev/null | tail -1)
if [ $rc -ne 0 ] && (( $(echo "$dt < 60" | bc) )) && grep -q "exited on signal 9" "$tmp/fault.log"; then
  ok "fault: job ended ${dt%.*} s after kill -9 of rank 1 (exit $rc), last checkpoint $(basename "$last")"
  grep -E "mpirun noticed|stopped by SIGTERM" "$tmp/fault.log" | sed 's/^/       /'
else bad "fault: rc $rc after ${dt} s"; cat "$tmp/fault.log"; fi
if [ -n "$last" ] && "$B" -e "local s = moon.json.decode(io.open('$last'):read('a')); assert(next(moon.ckpt.load('$tmp/fault/' .. s.policy))); assert(next(moon.ckpt.load('$tmp/fault/' .. s.optimizer)))" 2>"$tmp/ck.log"; then
  ok "fault: the last checkpoint loads"
else bad "fault: last checkpoint"; cat "$tmp/ck.log"; fi
if "${MPI[@]}" -np 2 "$B" run tests/dist/train.lua turbo-kl "$tmp/fault" "$tmp/fault.safetensors" 3 resume >"$tmp/resume.log" 2>&1 \
   && "$B" run tests/dist/compare.lua "$tmp/np2.safetensors" "$tmp/fault.safetensors" 1e-6; then
  ok "resume under mpirun reproduces the uninterrupted -np 2 run"
else bad "resume after the fault"; cat "$tmp/resume.log"; fi

echo "dist: $pass passed, $fail failed"
[ $fail -eq 0 ]
