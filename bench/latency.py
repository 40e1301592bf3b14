#!/usr/bin/python3
"""Registration latency: time from `docker start` returning to the app
existing in the stand-in, on the real dockerd and the stand-in.

    bench/latency.py [-n 20]

The app's appearance is observed by polling GetApp over one gRPC channel
every millisecond from this process, so the figure includes up to ~1 ms of
polling granularity and one local RPC.  Prints a Markdown table and the
enroller's peak and current RSS at the end of the run.
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "spec", "e2e"))
sys.path.insert(0, os.path.join(SRC, "spec", "standin"))
import harness  # noqa: E402
import client  # noqa: E402
import grpc  # noqa: E402


def rss_kib(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    os.environ.setdefault("ENR_PYGEN", os.path.join(harness.BUILD, "gen", "py"))
    with harness.Cluster() as cl:
        en = cl.start_enroller(resync=60)
        auth = client.Auth(client.channel(cl.auth_addr, os.path.join(cl.state, "admin.identity")))
        req = auth.pb.types_pb2.ResourceRequest(Name="rabbitmq-lat")

        def exists():
            try:
                auth.GetApp(req, timeout=5)
                return True
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.NOT_FOUND:
                    return False
                raise

        cl.tag("rabbitmq:3-management")
        cl.docker("create", "--name", "lat", "--network", harness.NETWORK, "rabbitmq:3-management")
        samples = []
        for _ in range(args.n):
            cl.docker("start", "lat")
            t0 = time.monotonic()
            harness.wait_for(exists, interval=0.001, what="app")
            samples.append((time.monotonic() - t0) * 1000)
            cl.docker("stop", "-t", "0", "lat")
            harness.wait_for(lambda: not exists(), interval=0.005, what="app gone")
        mem = rss_kib(en.proc.pid)
        samples.sort()
        p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
        print("| measure | value |")
        print("|---|---|")
        print("| starts | %d |" % len(samples))
        print("| docker start returned -> app in stand-in, median | %.1f ms |" % statistics.median(samples))
        print("| p90 | %.1f ms |" % p90)
        print("| min / max | %.1f / %.1f ms |" % (samples[0], samples[-1]))
        print("| enroller RSS now / peak (VmRSS / VmHWM) | %d / %d KiB |" % (mem["VmRSS"], mem["VmHWM"]))


if __name__ == "__main__":
    main()
