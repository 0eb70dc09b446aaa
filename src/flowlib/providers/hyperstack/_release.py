"""Self-release on Hyperstack: a task's VM deletes itself when its workload has ended, even if
no flowlib process ever looks again (``auto_terminate`` and ``self_release``, the default).

Hyperstack has no scoped or short-lived API keys (a key is per user, valid in every region, does
not expire), so the VM holds an account key: ``release_api_key`` when set (a second key made
for VMs only, so it can be revoked alone), else the provider's ``api_key``. It travels in the
VM's ``user_data`` (the startup script: the only way in when no client comes back) and is written
to a 0600 header file only at release time, read by curl with ``-H @file`` (never on a command
line, never echoed), and removed after. docs/providers.md says what that costs.

After the exit code is written (and, with a results location, once it reached it) the VM waits
up to ``exit_grace_s`` for a client to read it (a client that does deletes the VM itself), then
finds its own id by its name (``GET /core/virtual-machines?search=flowlib-<task>``) and
``DELETE``s it, retrying with backoff until the API answers 2xx or 404.
"""

from __future__ import annotations

import shlex

from flowlib.core._results_script import EXIT_READ, RESULTS_DONE

__all__ = ["release_command"]

# The VM's id from the search answer on stdin: the VM whose name is exactly argv[1].
_FIND_ID = (
    "import json,sys\n"
    "d=json.load(sys.stdin)\n"
    "print(next((v['id'] for v in d.get('instances',[]) if v.get('name')==sys.argv[1]),''))"
)


def release_command(api_url: str, vm_name: str, api_key: str, grace_s: float) -> str:
    """The bash that ends this VM's billing (see the module docstring)."""
    q = shlex.quote
    url = api_url.rstrip("/")
    return f"""flow_release() {{
  local waited=0 hdr="$FLOW_LIB/release.header" id="" code="" i
  trap '' TERM HUP INT  # the VM goes once the delete is taken: finish it first
  while [ ! -f "$FLOW_ROOT/{EXIT_READ}" ] && [ ! -f "$FLOW_ROOT/{RESULTS_DONE}" ] \\
    && [ "$waited" -lt {int(grace_s)} ]; do
    sleep 1; waited=$((waited + 1))
  done
  (umask 077; printf 'api_key: %s\\n' {q(api_key)} > "$hdr")
  for i in 1 2 3 4 5 6 7 8; do
    id=$(curl -fsS --max-time 30 -H @"$hdr" {q(f"{url}/core/virtual-machines?search={vm_name}")} \\
      | "${{FLOW_PYTHON:-python3}}" -c {q(_FIND_ID)} {q(vm_name)}) && [ -n "$id" ] && break
    sleep "$i"
  done
  for i in 1 2 3 4 5 6 7 8; do
    [ -n "$id" ] || break
    flow_log "releasing VM $id"
    code=$(curl -sS -o /dev/null -w '%{{http_code}}' --max-time 30 -X DELETE -H @"$hdr" \\
      {q(url)}/core/virtual-machines/"$id") || code=000
    case "$code" in 2*|404) flow_log "released VM $id"; break ;; esac
    sleep "$i"
  done
  rm -f "$hdr"
}}
flow_release"""
