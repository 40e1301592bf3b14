#!/bin/sh
# The image's entrypoint: checks that this user can use the Docker socket
# before enroller starts, so that a missing --group-add is one clear line
# instead of a daemon that keeps retrying.  Then runs enroller with the
# arguments given (default: run -c /etc/enroller/config.lua).
set -eu
case "${1:-}" in
    run | "")
        host=${DOCKER_HOST:-unix:///var/run/docker.sock}
        case "$host" in
            unix://*)
                sock=${host#unix://}
                if [ ! -S "$sock" ]; then
                    echo "enroller: the Docker socket $sock is not mounted (docker run -v /var/run/docker.sock:$sock)" >&2
                    exit 2
                fi
                if [ ! -r "$sock" ] || [ ! -w "$sock" ]; then
                    gid=$(stat -c %g "$sock")
                    echo "enroller: user $(id -u) cannot use the Docker socket $sock (group $gid, mode $(stat -c %a "$sock")):" \
                        "run the container with --group-add $gid (compose: group_add: [\"$gid\"])" >&2
                    exit 2
                fi
                ;;
        esac
        ;;
esac
exec /usr/bin/enroller "$@"
