#!/usr/bin/env python3
"""TextWorld's own PDDL engine on moonlab household rooms: the peer of the speed benchmark and the reference of the
rule fixture. Not used at run time or by `swift test`.

    # rooms exported by moonlab (one .pddl problem per seed, with a .json naming the options):
    MOONLAB_HOUSEHOLD_EXPORT=/tmp/hh-rooms swift test --filter HouseholdExportTests
    # ALFWorld's domain and grammar, from the public repository alfworld/alfworld:
    #   git show HEAD:alfworld/data/alfred.pddl > alfred.pddl; git show HEAD:alfworld/data/alfred.twl2 > alfred.twl2
    python scripts/household_textworld.py bench   --domain alfred.pddl --grammar alfred.twl2 --rooms /tmp/hh-rooms
    python scripts/household_textworld.py fixture --domain alfred.pddl --grammar alfred.twl2 --rooms /tmp/hh-rooms \
        --out Tests/MoonEnvsTests/Fixtures/household_textworld.json

Needs `pip install "textworld[pddl]"` (TextWorld 1.7 with fast-downward). The grammar is ALFWorld's current file with
its 2.1.2 patch for "put" undone ("put {o} in/on {r}", "You put the ... in/on the ...": the grammar GTR's ALFWorld
used); its go-to feedback names the receptacle ("You arrive at {r.name}."), as ALFWorld's patch made it.
"""
import argparse
import glob
import json
import os
import random
import sys
import time

from textworld.envs.pddl import PddlEnv
from textworld.core import EnvInfos


def grammar_text(path):
    g = open(path).read()
    g = g.replace('template :: "move {o} to {r}";', 'template :: "put {o} in/on {r}";')
    g = g.replace('"You move the {o.name} to the {r.name}."', '"You put the {o.name} in/on the {r.name}."')
    return g


def load(domain, grammar, problem):
    env = PddlEnv(EnvInfos(admissible_commands=True, won=True))
    meta = json.load(open(problem[:-5] + ".json"))
    grammar = grammar.replace("UNKNOWN GOAL", meta["description"])  # as ALFWorld's add_task_to_grammar
    env.load({"pddl_domain": open(domain).read(), "grammar": grammar, "pddl_problem": open(problem).read()})
    return env


def rooms(path):
    return sorted(glob.glob(os.path.join(path, "*.pddl")))


def bench(args):
    grammar = grammar_text(args.grammar)
    rng = random.Random(1)
    steps, t_steps, c_steps, resets, t_load = 0, 0.0, 0.0, 0, 0.0
    for problem in rooms(args.rooms):
        t0 = time.perf_counter()
        env = load(args.domain, grammar, problem)
        state = env.reset()
        t_load += time.perf_counter() - t0
        resets += 1
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(args.steps):
            state = env.step(rng.choice(state["admissible_commands"]))
            if isinstance(state, tuple):
                state = state[0]
            steps += 1
            if state["won"]:
                state = env.reset()
        t_steps += time.perf_counter() - t0
        c_steps += time.thread_time() - c0
    print("peer: TextWorld Household steps/s %.1f (TextWorld %s PDDL engine, random admissible commands, %d rooms; "
          "per CPU-second of the thread; wall clock %.1f)" % (steps / c_steps, __import__("textworld").__version__, resets,
                                                             steps / t_steps))
    print("peer: TextWorld Household loads/s %.2f (parse domain, grammar and problem, reset)" % (resets / t_load))


def fixture(args):
    grammar = grammar_text(args.grammar)
    out = []
    for problem in rooms(args.rooms):
        meta = json.load(open(problem[:-5] + ".json"))
        rng = random.Random(meta["seed"])
        env = load(args.domain, grammar, problem)
        state = env.reset()
        steps = [{"command": None, "feedback": state.feedback, "admissible": state["admissible_commands"],
                  "won": bool(state["won"])}]
        vocab = ["go to", "take", "put", "open", "close", "examine", "use", "heat", "cool", "clean", "look", "inventory"]
        for _ in range(args.steps):
            adm = state["admissible_commands"]
            if rng.random() < 0.8:
                cmd = rng.choice(adm)
            else:  # a grammatical command that is probably not admissible, or noise
                words = rng.choice(adm).split()
                cmd = " ".join(rng.sample(words, len(words))) if rng.random() < 0.5 else rng.choice(vocab) + " " + " ".join(words[1:])
            state = env.step(cmd)
            if isinstance(state, tuple):
                state = state[0]
            steps.append({"command": cmd, "feedback": state.feedback, "admissible": state["admissible_commands"],
                          "won": bool(state["won"])})
            if state["won"]:
                break
        out.append({"options": meta, "problem": open(problem).read(), "steps": steps})
    json.dump({"generator": "scripts/household_textworld.py fixture", "textworld": __import__("textworld").__version__,
               "games": out}, open(args.out, "w"), indent=0)
    print("wrote %s: %d games, %d steps" % (args.out, len(out), sum(len(g["steps"]) for g in out)))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["bench", "fixture"])
    p.add_argument("--domain", required=True)
    p.add_argument("--grammar", required=True)
    p.add_argument("--rooms", required=True)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--out", default="household_textworld.json")
    args = p.parse_args()
    bench(args) if args.mode == "bench" else fixture(args)
