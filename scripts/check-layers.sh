#!/bin/sh
# The layers, checked by their #include lines (make test runs this):
#
#   src/common        includes nothing of stack/ or app/
#   src/stack         includes nothing of app/
#   src/app           includes no stack/ header: only include/muleteer.h and common/
#   examples/         includes no internal header at all
#
# and, inside the job application, the arrows go api -> run -> store -> model
# (src/app/app.{c,h}, the application's entry and shared context, sits above
# them all):
#
#   app/model         includes nothing of store/, run/, api/ or app.h
#   app/store         includes nothing of run/, api/ or app.h
#   app/run           includes nothing of api/
#
# Prints every offending line and exits 1 if there is any.
set -u
cd "$(dirname "$0")/.."
status=0

# forbid DIR PATTERN WHY: no file under DIR may include a header matching PATTERN.
forbid() {
    dir=$1 pattern=$2 why=$3
    [ -d "$dir" ] || return 0
    hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]+\"($pattern)" "$dir" --include='*.c' --include='*.h' || true)
    if [ -n "$hits" ]; then
        echo "layers: $why:"
        echo "$hits" | sed 's/^/  /'
        status=1
    fi
}

forbid src/common 'stack/|app/' "src/common is below both layers"
forbid src/stack 'app/' "the stack knows nothing of the job application"
forbid src/app 'stack/' "the job application sees the stack only through include/muleteer.h"
forbid examples 'stack/|app/|common/' "the examples use only the public API"
forbid src/app/model 'app/(store|run|api)/|app/app\.h' "app/model is the bottom room of the job application"
forbid src/app/store 'app/(run|api)/|app/app\.h' "app/store sits below run/ and api/"
forbid src/app/run 'app/api/' "app/run sits below api/"

[ $status -eq 0 ] && echo "layers: ok"
exit $status
