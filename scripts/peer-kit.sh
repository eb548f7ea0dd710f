# Sourced by the benchmark scripts that run a peer next to ours (bench-deep, bench-engine, bench-service):
# the peer kit's folder (torch_vgg.py, seam_peer.py, ratio.py, reference/deep_resize_ref.py; its
# setup-peers.sh makes the Python venv at $PEERS) comes as `--kit DIR` before the script's own arguments,
# or as $BENCH_KIT. Leaves KIT (absolute, or empty when neither names one) and the other arguments in
# $@ of the sourcing script (`source scripts/peer-kit.sh "$@"; set -- "${ARGS[@]}"`). `need_kit FILE`
# stops with a usage line unless the kit holds FILE; only the modes that run a peer call it.
KIT="${BENCH_KIT:-}"
ARGS=("$@")
if [[ ${ARGS[0]:-} == --kit ]]; then
  KIT="${ARGS[1]:-}"
  ARGS=("${ARGS[@]:2}")
fi
if [[ -n $KIT && -d $KIT ]]; then KIT="$(cd "$KIT" && pwd)"; fi

need_kit() {
  if [[ -z $KIT || ! -f $KIT/$1 ]]; then
    echo "$(basename "$0"): this mode runs a peer: give the peer kit's folder (the one with $1) as --kit DIR or \$BENCH_KIT" >&2
    exit 2
  fi
}
