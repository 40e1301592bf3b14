/*
 * limits.h - how much enroller keeps in flight, and the write pace's
 * defaults: defined here once for docker_sync.c, executor.c, config.c's
 * defaults table and bench/floor.c (whose floors must match them).
 */
#ifndef ENR_LIMITS_H
#define ENR_LIMITS_H

/* Inspects in flight at once while a listing's new containers are read. */
#define INSPECT_PARALLEL 8

/* Writes a second, and the token bucket's size: executor_config's 0. */
#define EXECUTOR_DEFAULT_RATE 100
#define EXECUTOR_DEFAULT_BURST 200

/* Writes in flight at once: a second's worth at the default rate, so that
 * past the burst the writes leave in one batch a second, not a batch every
 * 0.16 s (16 in flight); each batch wakes the loop and the connection.
 * Teleport's Auth takes 1,000 streams on a connection
 * (grpc.MaxConcurrentStreams(defaults.GRPCMaxConcurrentStreams) in
 * NewGRPCServer, lib/auth/grpcserver.go; 1000 in lib/defaults/defaults.go). */
#define EXECUTOR_DEFAULT_INFLIGHT 100

#endif
