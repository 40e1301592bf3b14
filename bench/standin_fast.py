#!/usr/bin/python3
"""The Teleport Auth stand-in (spec/standin/standin.py) with apps and app
servers left out of its state file, for benchmarks only.

The stand-in rewrites DIR/state.json on every write; at 10,000 apps that is
O(N) per CreateApp and O(N^2) per pass, which would measure the stand-in, not
enroller.  Everything else (roles, users, tokens, RBAC, validation, counters,
WatchEvents) is the stand-in unchanged.  Same command line as standin.py.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "spec", "standin"))
import standin  # noqa: E402

_save = standin.Store.save


def save(self):
    with self.lock:
        apps, servers = self.apps, self.app_servers
        self.apps, self.app_servers = {}, {}
        try:
            _save(self)
        finally:
            self.apps, self.app_servers = apps, servers


standin.Store.save = save

if __name__ == "__main__":
    sys.exit(standin.main())
