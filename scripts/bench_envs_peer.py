"""Steps/second of the original gym-cards envs (random actions, reset on done), for scripts/bench-envs."""
import random
import sys
import time

import gym_cards.envs as ge

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 1.5
makers = {
    "NumberLine": ge.NumberLineEnv,
    "EZPoints": ge.EZPointEnv,
    "Points24": ge.Point24Env,
    "Blackjack": ge.BlackjackEnv,
}
for name, make in makers.items():
    env = make()
    env.reset(seed=1)
    n_actions = env.action_space.n
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < secs:
        for _ in range(20):
            obs, reward, term, trunc, info = env.step(random.randrange(n_actions))
            steps += 1
            if term or trunc:
                env.reset()
    dt = time.perf_counter() - t0
    print(f"peer: {name} steps/s {steps / dt:.0f} (original gym-cards, 300x300, step+render)")
