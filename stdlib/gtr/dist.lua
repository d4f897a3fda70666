--- Data parallelism for the gtr algorithms over moon.dist (Open MPI): `mpirun -np N moonlab run script.lua`.
-- Each rank steps its own contiguous slice of the env vector (env i is seeded as env i of the whole vector) and
-- generates, rewards and scores its own turns; the turns are then gathered so that every rank holds the same global
-- rollout (advantages, their normalisation and the guidance buffer are global by construction). Scoring chunks are
-- shared out round-robin; each PPO minibatch is split into one contiguous part per rank and the gradients (with the
-- loss statistics appended) are summed by one allreduce of one flat bucket; the optimiser then takes the same step
-- on every rank. Rank 0 alone writes the run directory, checkpoints, the teacher pool and plots, merges the teacher
-- and broadcasts it. With one process none of this runs and a run is exactly what it was before.
local D = {}

--- The part of `n` items that `rank` (0-based) of `size` holds: first index (1-based) and count. Parts are
-- contiguous, in rank order, and differ in size by at most one.
function D.part(n, rank, size)
  local base, extra = n // size, n % size
  return rank * base + math.min(rank, extra) + 1, base + (rank < extra and 1 or 0)
end

--- The run directory as ranks other than 0 see it: paths resolve, nothing is read or written.
function D.run_stub(dir)
  local stub = {}
  local function noop() end
  function stub.path(_, name) return dir .. "/" .. name end
  function stub.latest() return nil end
  for _, k in ipairs{"log", "save_state", "prune", "write", "truncate_metrics"} do stub[k] = noop end
  return stub
end

--- Copies rank 0's values of `tensors` to every rank (one flat broadcast).
function D.broadcast_tensors(tensors)
  local flat = moon.dist.flatten(tensors)
  moon.dist.broadcast(flat, 0)
  moon.dist.unflatten(flat, tensors)
end

--- Sums the gradients of `params` and the numbers `extra` over all ranks in one allreduce; returns the summed extras.
function D.allreduce_gradients(params, extra)
  local flat = moon.dist.flatten(params, {grad = true, extra = extra})
  moon.dist.allreduce(flat, {op = "sum"})
  return moon.dist.unflatten(flat, params, {grad = true})
end

--- Checks that every minibatch of `batch` samples can give each of `size` ranks at least one sample.
function D.check_minibatches(batch, minibatch, size)
  local last = batch % minibatch
  if math.min(batch, minibatch) < size or (last > 0 and last < size) then
    error(("gtr: with %d ranks every PPO minibatch needs at least %d samples (num_envs * steps = %d, ppo.minibatch = %d)")
      :format(size, size, batch, minibatch), 0)
  end
end

--- Gathers every rank's turns of one rollout into the global rollout, time-major and in global env order as one
-- process would have collected them. `part`: {samples, last (tensor), episodes, entropy, tokens} of this rank.
function D.gather_rollout(part, steps)
  local all = moon.dist.allgather(part)
  local samples, last, episodes, entropy, tokens = {}, {}, {}, 0, 0
  for t = 1, steps do
    for _, p in ipairs(all) do
      local n = #p.samples // steps
      for i = 1, n do samples[#samples + 1] = p.samples[(t - 1) * n + i] end
    end
  end
  for r, p in ipairs(all) do
    last[r] = p.last
    for _, e in ipairs(p.episodes) do episodes[#episodes + 1] = e end
    entropy, tokens = entropy + p.entropy, tokens + p.tokens
  end
  return samples, moon.cat(last), episodes, entropy, tokens
end

return require("gtr.doc").module(D)
