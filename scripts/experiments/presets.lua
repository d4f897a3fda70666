-- Policy presets for scripts/experiment.lua (`preset=NAME`, applied before the per-task defaults' overrides and
-- before key=value arguments, which still override it) and for the grid of scripts/reproduce (--preset NAME).
--   tiny    the 1M-parameter byte-level VLM policy trained from scratch (docs/RESULTS.md's 1M results)
--   smollm  SmolLM2-135M-Instruct (models/, scripts/fetch-model), text-only, LoRA rank 16, text observations: the
--           pretrained policy of the wave-2 results (issue #14)
--   tinylm  the same pipeline on the 2-layer GGUF test fixture: seconds per update, for tests of the smollm path
-- Each preset: config (merged into the run config) and task (per-task config, merged after it).
local P = {}

P.tiny = {
  config = {},
  -- with 512 demonstrations x 3 epochs only NumberLine's SFT start answers in the right format (EZPoints 0% success,
  -- Blackjack 100% invalid answers, SFT loss 0.35-0.57 against NumberLine's 0.13), so the card tasks get more
  task = {ezpoints = {sft = {demos = 1024}}, points24 = {sft = {demos = 2048}}, blackjack = {sft = {demos = 2048}}},
}

-- LoRA rank 16 on the attention and MLP projections of the frozen SmolLM2 base; SFT at lr 1e-3 cosine-decayed over a
-- fixed number of steps (one epoch of sft.demos in batches of sft.batch), so a start is the same on any machine and
-- can be made again where its run directory is gone. The step counts are those the measured starts reached in
-- their wall-clock budgets (10-15 minutes for the easier tasks, 30 minutes for Points24, in batches of 8 there):
-- NumberLine 27 steps of 16 (100%), EZPoints 39 (75.8%), Blackjack 62 (42.2%), Points24 315 steps of 8 (8.6%;
-- 49 steps of 16 gave 3.9%), on 128 fixed episodes (docs/RESULTS.md).
P.smollm = {
  config = {model = {decoder = "models/SmolLM2-135M-Instruct.Q4_1.gguf", vision = false, lora = {rank = 16, alpha = 32}},
            env_options = {observation = "text"},
            sft = {demos = 8000, epochs = 1, lr = 1e-3, batch = 16, budget_s = 0, log_every = 5}},
  task = {numberline = {sft = {demos = 27 * 16}}, ezpoints = {sft = {demos = 39 * 16}},
          blackjack = {sft = {demos = 62 * 16}}, points24 = {sft = {demos = 315 * 8, batch = 8}}},
}

P.tinylm = {
  config = {model = {decoder = "Tests/MoonCheckpointTests/Fixtures/tiny_llama.gguf", vision = false, lora = {rank = 4}},
            env_options = {observation = "text"}, sft = {demos = 16, epochs = 1, lr = 1e-3, batch = 8}},
  task = {},
}

return P
