#!/usr/bin/python3
"""Memory per rule file: peak RSS of `enroller check` over 1 and 51 copies
of rules/rabbitmq.lua (renamed), the smallest of 3 runs each.

    bench/rule_memory.py [--enroller PATH]

Each rule file has a Lua state of its own (the sandbox), so this is the
price of that isolation: (RSS at 51 - RSS at 1) / 50.
"""
import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
CONFIG = 'owner "x"\nteleport { addr = "127.0.0.1:1", identity = "id" }\nrules { dir = "rules" }\n'


def peak_rss_kib(enroller, n, runs=3):
    d = tempfile.mkdtemp(prefix="enr-bench-rulemem-")
    try:
        os.makedirs(os.path.join(d, "rules"))
        with open(os.path.join(SRC, "rules", "rabbitmq.lua")) as f:
            text = f.read()
        for i in range(n):
            with open(os.path.join(d, "rules", "r%03d.lua" % i), "w") as f:
                f.write(text.replace('name = "rabbitmq"', 'name = "r%03d"' % i))
        with open(os.path.join(d, "config.lua"), "w") as f:
            f.write(CONFIG)
        # `enroller check` loads the identity too: a valid one, mode 0600
        shutil.copy(os.path.join(SRC, "spec", "fixtures", "identity", "valid_rsa.identity"), os.path.join(d, "id"))
        os.chmod(os.path.join(d, "id"), 0o600)
        best = None
        for _ in range(runs):
            pid = os.fork()
            if pid == 0:
                os.chdir(d)
                fd = os.open(os.devnull, os.O_WRONLY)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.execv(enroller, [enroller, "check", "-c", "config.lua"])
            _, status, ru = os.wait4(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError("enroller check failed with %d rule files" % n)
            best = ru.ru_maxrss if best is None else min(best, ru.ru_maxrss)
        return best
    finally:
        shutil.rmtree(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--enroller", default=os.path.join(SRC, "build", "enroller"))
    args = ap.parse_args()
    one, many = peak_rss_kib(args.enroller, 1), peak_rss_kib(args.enroller, 51)
    print("peak RSS of enroller check: 1 rule file %d KiB, 51 rule files %d KiB; %.1f KiB per rule file"
          % (one, many, (many - one) / 50.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
