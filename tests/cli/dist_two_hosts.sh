#!/usr/bin/env bash
# Two hosts: a 2-rank job across two network namespaces joined by a veth pair (made here,
# on a private link of the test's own), over MPI's TCP transport, with mpirun starting the
# second host's daemon through `ip netns exec` instead of ssh, ends with the parameters of
# the same job on one host. Skipped where namespaces cannot be made (not root, no ip).
. "$(dirname "$0")/lib.sh"
have_data || { echo "skipped: no Fashion-MNIST"; exit 0; }
mpi_ready
command -v ip >/dev/null && command -v unshare >/dev/null ||
    { echo "skipped: no ip (iproute2) or unshare"; exit 0; }

a=lta$$ b=ltb$$ net=10.231.$(($$ % 200 + 20))
ip netns add "$a" 2>/dev/null || { echo "skipped: cannot make network namespaces here"; exit 0; }
trap 'ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null; rm -rf "$SCRATCH"' EXIT
ip netns add "$b" || fail "cannot make a second namespace"
ip link add "v$a" type veth peer name "v$b" || fail "cannot make a veth pair"
ip link set "v$a" netns "$a" && ip link set "v$b" netns "$b" || fail "cannot move the veth ends"
ip -n "$a" addr add "$net.1/24" dev "v$a" && ip -n "$b" addr add "$net.2/24" dev "v$b" ||
    fail "cannot address the link"
for ns in "$a" "$b"; do
    ip -n "$ns" link set lo up && ip -n "$ns" link set "v$ns" up || fail "cannot raise $ns's links"
done

# what mpirun runs instead of ssh to start its daemon on "host" $net.2: a shell in
# namespace $b, under a host name of its own
cat >"$SCRATCH/netns-rsh" <<SH
#!/bin/sh
[ "\$1" = "$net.2" ] || { echo "netns-rsh: no host \$1" >&2; exit 1; }
shift
exec ip netns exec "$b" unshare --uts sh -c "hostname host-b; \$*"
SH
chmod +x "$SCRATCH/netns-rsh"
printf '%s slots=1\n' "$net.1" "$net.2" >"$SCRATCH/hosts"

args=(data.train_samples=640 data.val_samples=100 'model.hidden={32}' data.batch_size=32
      schedule.warmup_iters=0 runner.max_iters=12 runner.eval_interval=0 optim.type=sgd)
expect 0 mpirun -np 2 "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/one-host" \
    --quiet --set "${args[@]}"
expect 0 timeout 120 ip netns exec "$a" unshare --uts sh -c "hostname host-a; exec \"\$@\"" sh \
    mpirun -np 2 --hostfile "$SCRATCH/hosts" --mca plm_rsh_agent "$SCRATCH/netns-rsh" \
    --mca btl tcp,self --mca btl_tcp_if_include "$net.0/24" --mca oob_tcp_if_include "$net.0/24" \
    "$LUTRA" train examples/fmnist_mlp.lua --work-dir "$SCRATCH/two-hosts" --set "${args[@]}"
two=$(run_dir "$SCRATCH/two-hosts")
has "$two/train.log" "data parallel: 2 ranks (MPI), 1 on this host"
close_weights "$(run_dir "$SCRATCH/one-host")/final.safetensors" "$two/final.safetensors" 1e-6 ||
    fail "two hosts ended with other parameters than one"
exit 0
