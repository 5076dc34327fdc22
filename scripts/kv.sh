# KV access for the operator scripts (sourced after lib.sh): parses the target flags and
# defines kv_put / kv_get over the Workers KV namespace ROUTES (local or remote, via wrangler)
# or the Spin test host's admin API.
#
#   --local (default)   the KV that `scripts/dev` serves (.wrangler/state)
#   --remote            the deployed namespace
#   --spin-admin URL    the Spin test host's admin API (store `default`)
# Leaves every other argument in the array `args`.
PERSIST="$ROOT/.wrangler/state"
target=(--local --persist-to "$PERSIST"); spin_admin=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --local) target=(--local --persist-to "$PERSIST") ;;
    --remote) target=(--remote) ;;
    --spin-admin) spin_admin=${2:?--spin-admin needs a URL}; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done

kv_put() { # key file
  if [ -n "$spin_admin" ]; then
    curl -fsS -X PUT --data-binary "@$2" "$spin_admin/kv/default/$1" >/dev/null
  else
    wrangler kv key put "$1" --path "$2" --binding ROUTES "${target[@]}" >/dev/null
  fi
}
kv_get() { # key
  if [ -n "$spin_admin" ]; then
    curl -fsS "$spin_admin/kv/default/$1"
  else
    wrangler kv key get "$1" --binding ROUTES "${target[@]}" 2>/dev/null
  fi
}
