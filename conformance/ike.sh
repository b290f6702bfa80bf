#!/usr/bin/env bash
# One IKEv2 exchange between two strongSwan charon daemons (5.9, configured
# through swanctl) on 127.0.0.1, for conformance/consumers.sh:
#
#   the initiator takes its certificate from the PKCS#11 token by CKA_ID
#   (local.cert0.handle = 01) and its private key likewise (a secrets.token
#   section), as a gateway's strongSwan does with a SIM key;
#   the responder trusts one CA only (DIR/vpnca.pem) and authenticates
#   with DIR/gw.pem and DIR/gw.key (identity "gateway").
#
#   unshare -n conformance/ike.sh LIB DIR   (as root; exit status: the initiation's)
#
# Runs only in a network namespace of its own (refused otherwise): the IKE
# ports, the kernel's IPsec state and the loopback it brings up are that
# namespace's and vanish with it. Each charon runs in a mount namespace of
# its own with a tmpfs on /run (its pid file and control sockets), pcscd's
# socket directory bound back in so that a pcsc: SIM stays reachable.
# The logs are left in DIR (resp.log, init.log); the IKE SA is only
# authenticated (childless = force): no CHILD_SA, no policy, no route.
set -euo pipefail
LIB=$1 DIR=$2
if [ "$(readlink /proc/self/ns/net)" = "$(readlink /proc/1/ns/net)" ]; then
  echo "ike.sh: run me in a network namespace of my own (unshare -n)" >&2
  exit 2
fi
cd "$DIR"
ip link set lo up

conf() { # conf NAME PORT NATPORT EXTRA: the charon configuration NAME.conf
  cat >"$1.conf" <<CONF
charon {
  port = $2
  port_nat_t = $3
  install_routes = no
  filelog {
    $1 {
      path = $DIR/$1.log
      default = 1
      ike = 2
      cfg = 2
    }
  }
  plugins {
    vici {
      socket = unix://$DIR/$1.vici
    }
    $4
  }
}
CONF
}
conf resp 500 4500 ""
conf init 1500 14500 "pkcs11 { modules { token { path = $LIB } } }"

mkdir -p resp/x509 resp/x509ca resp/ecdsa init/x509ca
cp gw.pem resp/x509/
cp gw.key resp/ecdsa/
cp vpnca.pem resp/x509ca/
cp vpnca.pem init/x509ca/
cat >resp/swanctl.conf <<CONF
connections {
  rw {
    local_addrs = 127.0.0.1
    version = 2
    childless = allow
    local {
      auth = pubkey
      certs = gw.pem
      id = gateway
    }
    remote {
      auth = pubkey
      cacerts = vpnca.pem
    }
  }
}
secrets {
  ecdsa-gw {
    file = gw.key
  }
}
CONF
# The token needs no PIN; strongSwan asks for one, and any PIN logs in.
cat >init/swanctl.conf <<CONF
connections {
  gw {
    remote_addrs = 127.0.0.1
    remote_port = 500
    local_port = 1500
    version = 2
    childless = force
    local {
      auth = pubkey
      cert0 {
        handle = 01
      }
    }
    remote {
      auth = pubkey
      id = gateway
      cacerts = vpnca.pem
    }
  }
}
secrets {
  token-device {
    handle = 01
    pin = 0000
  }
}
CONF

PIDS=()
stop() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop EXIT
mkdir -p hostrun
rm -f resp.vici init.vici resp.log init.log
for n in resp init; do
  STRONGSWAN_CONF=$DIR/$n.conf unshare -m sh -c '
    mount --bind /run "$1/hostrun" && mount -t tmpfs none /run || exit 1
    if [ -d "$1/hostrun/pcscd" ]; then mkdir /run/pcscd && mount --bind "$1/hostrun/pcscd" /run/pcscd; fi
    exec /usr/lib/ipsec/charon' sh "$DIR" >"$n.out" 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 1 200); do [ -S resp.vici ] && [ -S init.vici ] && break; sleep 0.05; done
[ -S resp.vici ] && [ -S init.vici ] || { echo "ike.sh: charon did not start"; cat resp.out init.out; exit 1; }
sw() { # sw NAME ARGS...: swanctl against charon NAME
  local n=$1; shift
  STRONGSWAN_CONF=$DIR/$n.conf timeout 60 swanctl "$@" --uri "unix://$DIR/$n.vici"
}
sw resp --load-all --noprompt --file "$DIR/resp/swanctl.conf" >load-resp.out 2>&1 || { cat load-resp.out; exit 1; }
sw init --load-all --noprompt --file "$DIR/init/swanctl.conf" >load-init.out 2>&1 || { cat load-init.out; exit 1; }
rc=0
sw init --initiate --ike gw --timeout 30 || rc=$?
sw resp --list-sas || true
exit $rc
