#!/usr/bin/env bash
# hook-me.sh SERVICE NAMESPACE WEBHOOK_PORT [QUIC_SERVER_PORT] [QUIC_TUNNEL_PORT]
#
# Lets a seed's kube-apiserver reach the webhooks of a controller running on your machine
# (`make start`): a LoadBalancer Service and a quic-server in NAMESPACE, the extension's webhook
# Service SERVICE pointed at that server, and a local quic-client (docker) forwarding the tunnel to
# host.docker.internal:WEBHOOK_PORT. The argument order is that of Gardener's hack/hook-me.sh
# (service, namespace, port); `make hook-me` passes them in this order (the Go original's Makefile
# swapped service and namespace). Deploy the chart with ignoreResources=true first, so the resource
# manager does not undo the Service change. Ctrl-C restores the Service and removes what was created.
# Needs kubectl (KUBECONFIG = the seed), docker and certtool (gnutls-bin).
set -euo pipefail
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then usage; exit 0; fi
if [ $# -lt 3 ] || [ $# -gt 5 ] || [ -z "$1" ] || [ -z "$2" ]; then
  echo "hook-me: need SERVICE NAMESPACE WEBHOOK_PORT (got: $*); e.g. make EXTENSION_NAMESPACE=extension-provider-equinix-metal-xyz hook-me" >&2
  exit 2
fi
service=$1 namespace=$2 port=$3 quic_server_port=${4:-9443} quic_tunnel_port=${5:-9444}
for p in "$port" "$quic_server_port" "$quic_tunnel_port"; do
  [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || { echo "hook-me: '$p' is not a port number" >&2; exit 2; }
done
for tool in kubectl docker certtool; do
  command -v "$tool" >/dev/null || { echo "hook-me: $tool is required" >&2; exit 1; }
done
kubectl -n "$namespace" get service "$service" >/dev/null || {
  echo "hook-me: Service $namespace/$service not found; deploy the extension (ignoreResources=true) into that namespace first" >&2; exit 1; }

work=$(mktemp -d)
backup="$work/service-backup.yaml"
kubectl -n "$namespace" get service "$service" -o yaml > "$backup"
cleanup() {
  echo "hook-me: restoring Service $namespace/$service and removing the tunnel" >&2
  kubectl -n "$namespace" delete deployment quic-server --ignore-not-found >/dev/null || true
  kubectl -n "$namespace" delete service quic-lb --ignore-not-found >/dev/null || true
  kubectl -n "$namespace" delete secret quic-tunnel-certs --ignore-not-found >/dev/null || true
  kubectl -n "$namespace" replace --force -f "$backup" >/dev/null || true
  docker rm -f "hook-me-$service" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

kubectl -n "$namespace" apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: {name: quic-lb, labels: {app: quic-server}}
spec:
  type: LoadBalancer
  selector: {app: quic-server}
  ports: [{name: tunnel, protocol: UDP, port: $quic_tunnel_port, targetPort: $quic_tunnel_port}]
YAML
echo "hook-me: waiting for the load balancer's address" >&2
lb=""
for _ in $(seq 1 120); do
  lb=$(kubectl -n "$namespace" get service quic-lb -o jsonpath='{.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}')
  [ -n "$lb" ] && break
  sleep 5
done
[ -n "$lb" ] || { echo "hook-me: the LoadBalancer Service quic-lb got no address in 10 minutes" >&2; exit 1; }

# CA, server and client certificates for the tunnel.
cd "$work"
printf 'cn = quic-tunnel-ca\nca\ncert_signing_key\nexpiration_days = 7\n' > ca.tmpl
printf 'cn = quic-server\ndns_name = %s\ntls_www_server\nexpiration_days = 7\n' "$lb" > server.tmpl
printf 'cn = quic-client\ntls_www_client\nexpiration_days = 7\n' > client.tmpl
for n in ca server client; do certtool --generate-privkey --key-type=ecdsa --outfile "$n.key" 2>/dev/null; done
certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl --outfile ca.crt 2>/dev/null
for n in server client; do
  certtool --generate-certificate --load-privkey "$n.key" --load-ca-certificate ca.crt --load-ca-privkey ca.key \
    --template "$n.tmpl" --outfile "$n.crt" 2>/dev/null
done
kubectl -n "$namespace" create secret generic quic-tunnel-certs --from-file=ca.crt --from-file=server.crt --from-file=server.key \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$namespace" apply -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: quic-server, labels: {app: quic-server}}
spec:
  replicas: 1
  selector: {matchLabels: {app: quic-server}}
  template:
    metadata:
      labels:
        app: quic-server
        networking.gardener.cloud/to-public-networks: allowed
    spec:
      containers:
      - name: quic-server
        image: ghcr.io/gardener/quic-reverse-http-tunnel/quic-server:v0.1.4
        args: [--tunnel-port=$quic_tunnel_port, --client-port=$quic_server_port, --cert-file=/certs/server.crt,
               --cert-key=/certs/server.key, --client-ca-file=/certs/ca.crt]
        volumeMounts: [{name: certs, mountPath: /certs}]
      volumes: [{name: certs, secret: {secretName: quic-tunnel-certs}}]
YAML
# The webhook Service now forwards to the quic server instead of the extension's pods.
kubectl -n "$namespace" patch service "$service" --type merge -p \
  "{\"spec\":{\"selector\":{\"app\":\"quic-server\",\"app.kubernetes.io/name\":null},\"ports\":[{\"name\":\"webhook-server\",\"port\":443,\"protocol\":\"TCP\",\"targetPort\":$quic_server_port}]}}"
echo "hook-me: tunnel $lb:$quic_tunnel_port -> host.docker.internal:$port. Now run, in another terminal:" >&2
echo "  make EXTENSION_NAMESPACE=$namespace WEBHOOK_CONFIG_MODE=service start" >&2
docker run --rm --name "hook-me-$service" --add-host host.docker.internal:host-gateway -v "$work:/certs" \
  ghcr.io/gardener/quic-reverse-http-tunnel/quic-client-tcp:v0.1.4 \
  --server="$lb:$quic_tunnel_port" --upstream="host.docker.internal:$port" \
  --ca-file=/certs/ca.crt --cert-file=/certs/client.crt --cert-key=/certs/client.key
