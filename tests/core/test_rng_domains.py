"""ctest rng_domains_unique: every random-stream domain (core/rng.hpp) is declared by the stage that
draws from it, as `inline constexpr RngDomain <name>{<number>};` inside `namespace rng_domain`. This
scans src/ and tests/ for those declarations and fails if two share a number or a name, if a domain is
made any other way (a cast or a brace-initialised RngDomain outside such a declaration), or if a
domain that results depend on changed its number (that would change every output drawn from it)."""
import os
import re
import sys

ROOT = os.environ.get("ATTNPATHS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DECL = re.compile(r"^\s*inline constexpr RngDomain (\w+)\{(\d+)\};")
ANY = re.compile(r"RngDomain\s*[{(]|static_cast<RngDomain>|RngDomain\s*\w+\s*[{(=]")
# The numbers the published results were drawn with: they must never change.
FIXED = {"markov_chain": 1, "markov_noise": 2, "head_perturbation": 3, "sampler": 4, "robustness": 6,
         "episode": 20, "label_embedding": 21, "attention_init": 22, "training_init": 30,
         "training_synthetic": 31, "pruning_order": 40, "test": 99}


def main():
    by_number, by_name, errors = {}, {}, []
    for top in ("src", "tests"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if not f.endswith((".hpp", ".cpp", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)
                with open(path, encoding="utf-8") as fh:
                    for n, line in enumerate(fh, 1):
                        m = DECL.match(line)
                        if m:
                            name, number = m.group(1), int(m.group(2))
                            where = f"{rel}:{n}"
                            if number in by_number:
                                errors.append(f"domain number {number}: {name} ({where}) and {by_number[number]}")
                            if name in by_name:
                                errors.append(f"domain name {name}: {where} and {by_name[name]}")
                            by_number[number] = f"{name} ({where})"
                            by_name[name] = where
                        elif ANY.search(line.split("//")[0]):
                            errors.append(f"{rel}:{n}: a domain made outside a declaration: {line.strip()}")
    for name, number in FIXED.items():
        if name not in by_name:
            errors.append(f"domain {name} (number {number}) is no longer declared")
    for number, who in by_number.items():
        name = who.split(" ")[0]
        if name in FIXED and FIXED[name] != number:
            errors.append(f"domain {name} changed its number from {FIXED[name]} to {number}")
    if errors:
        print("\n".join(errors))
        return 1
    print(f"{len(by_name)} domains, all numbers distinct:",
          ", ".join(f"{v.split(' ')[0]}={k}" for k, v in sorted(by_number.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
