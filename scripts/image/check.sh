#!/usr/bin/env bash
# npm run check:image: the image, built and run. Starts a Docker engine when none answers, makes the
# local base when it is missing (scripts/image/make-base.sh; no image registry is needed), builds the
# Dockerfile, runs the container as its non-root user on 127.0.0.1 (--network host), waits for its
# HEALTHCHECK, then proves it works: one receiver certificate, one encryptor, one encrypt that
# `openssl cms -decrypt` turns back into the payload. Reports the time of each phase and the image
# size; removes the container, keeps the images so the next run reuses their layers.
#
# Exit status: 0 passed, 1 failed, 2 no Docker engine could start (the reason on stderr).
# Environment: BASE_IMAGE (default the local base; an official node image is used as it is),
# IMAGE (default cms-encryptor:check), IMAGE_WORK_DIR (scratch, default /var/tmp/cms-encryptor-image).
set -euo pipefail
cd "$(dirname "$0")/../.."

base=${BASE_IMAGE:-cms-encryptor-base:local}
image=${IMAGE:-cms-encryptor:check}
work=${IMAGE_WORK_DIR:-/var/tmp/cms-encryptor-image}
node_version=$(cat .ci/node-version)
scratch=
container=cms-encryptor-check-$$
started_dockerd=

say() { echo "check:image: $*"; }
fail() {
  echo "check:image: FAILED: $*" >&2
  exit 1
}
cleanup() {
  docker rm -f -v "$container" >/dev/null 2>&1 || true
  [[ -z $scratch ]] || rm -rf "$scratch"
  # An engine this script started goes with it; images stay on disk for the next run.
  if [[ -n $started_dockerd ]]; then
    kill "$started_dockerd" 2>/dev/null && while kill -0 "$started_dockerd" 2>/dev/null; do sleep 0.2; done
  fi
  return 0
}
trap cleanup EXIT
phase_start=$SECONDS
phase() {
  say "$1: $((SECONDS - phase_start)) s"
  phase_start=$SECONDS
}

# The image's default base and CI's second Node are the same release.
grep -qx "ARG BASE_IMAGE=node:$node_version-bookworm-slim" Dockerfile ||
  fail "the Dockerfile's BASE_IMAGE default is not node:$node_version-bookworm-slim (.ci/node-version)"

# 1. A Docker engine: the one running, else dockerd started here (needs root).
if ! docker info >/dev/null 2>&1; then
  dockerd=$(command -v dockerd || ls /usr/sbin/dockerd 2>/dev/null || true)
  if [[ -z $dockerd ]]; then
    echo "check:image: no Docker engine: dockerd is not installed (Debian package docker.io)" >&2
    exit 2
  fi
  if [[ $(id -u) != 0 ]]; then
    echo "check:image: no Docker engine answers, and starting dockerd needs root" >&2
    exit 2
  fi
  mkdir -p "$work"
  # dockerd runs iptables and containerd from the sbin directories, which a user's PATH may lack.
  PATH="$PATH:/usr/sbin:/sbin" "$dockerd" >"$work/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$started_dockerd" 2>/dev/null || break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    echo "check:image: no Docker engine: dockerd did not start; its log ends with:" >&2
    tail -n 5 "$work/dockerd.log" >&2
    exit 2
  fi
  phase "dockerd started"
fi

mkdir -p "$work"
scratch=$(mktemp -d "$work/check.XXXXXX")

# 2. The base: made here when it is the local one and missing or of another Node version.
if [[ $base == cms-encryptor-base:local ]]; then
  label='{{index .Config.Labels "org.cms-encryptor.node-version"}}'
  made=$(docker image inspect --format "$label" "$base" 2>/dev/null || true)
  if [[ $made != "$node_version" ]]; then
    scripts/image/make-base.sh "$base"
    phase "base image made"
  fi
fi

# 3. The image. Without the buildx plugin the classic builder builds it (Debian's docker.io has none);
# --force-rm: it would keep the container of a failed step.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
docker build --network host --force-rm --build-arg "BASE_IMAGE=$base" -t "$image" . >"$work/build.log" 2>&1 ||
  { tail -n 30 "$work/build.log" >&2; fail "docker build (log: $work/build.log)"; }
phase "image built"

# 4. Run it as built (USER node), on the host's loopback: the tests never use a bridge address.
free_port="const s = require('node:net').createServer()
s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close() })"
port=$(node -e "$free_port")
docker run -d --name "$container" --network host -e HOST=127.0.0.1 -e "PORT=$port" "$image" >/dev/null
health=
for _ in $(seq 120); do
  health=$(docker inspect --format '{{.State.Status}} {{.State.Health.Status}}' "$container")
  [[ $health == 'running healthy' || $health != running* ]] && break
  sleep 1
done
[[ $health == 'running healthy' ]] || { docker logs "$container" 2>&1 | tail -n 20 >&2; fail "container is $health"; }
phase "container healthy on 127.0.0.1:$port"

uid=$(docker exec "$container" id -u)
[[ $uid != 0 ]] || fail "the service runs as root"
compilers=$(docker exec "$container" sh -c 'command -v gcc g++ cc make python3 || true')
[[ -z $compilers ]] || fail "the runtime image holds build tools: $compilers"

# 5. One encrypt, end to end, with the tokens the service created on its first start.
tokens=$scratch/tokens.json
docker exec "$container" cat /data/bootstrap-tokens.json >"$tokens"
token() { node -p "require(process.argv[1])[process.argv[2]]" "$tokens" "$1"; }
url=http://127.0.0.1:$port
call() { # method path token expected-status [curl args...]: the response body is in $scratch/body
  local method=$1 path=$2 bearer=$3 expected=$4 status
  shift 4
  status=$(curl -sS -o "$scratch/body" -D "$scratch/headers" -w '%{http_code}' -X "$method" "$url$path" \
    -H "Authorization: Bearer $bearer" "$@")
  [[ $status == "$expected" ]] || fail "$method $path answered $status, not $expected: $(head -c 300 "$scratch/body")"
}

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$scratch/receiver.key" -out "$scratch/receiver.crt" \
  -subj '/CN=cms-encryptor image check' -days 2 2>/dev/null
call PUT /keystore/entries/image-check "$(token tenant-admin)" 201 \
  -H 'Content-Type: application/x-pem-file' --data-binary "@$scratch/receiver.crt"
call PUT /encryptors/image-check "$(token integration-developer)" 201 \
  -H 'Content-Type: application/json' -d '{"receiverAliases": ["image-check"]}'
head -c 4096 /dev/urandom | base64 >"$scratch/payload"
call POST /encryptors/image-check/encrypt "$(token integration-flow)" 200 \
  -H 'Content-Type: application/octet-stream' --data-binary "@$scratch/payload"
grep -qi '^x-cms-recipients: image-check' "$scratch/headers" || fail "X-Cms-Recipients is not image-check"
openssl cms -decrypt -binary -inform DER -in "$scratch/body" -inkey "$scratch/receiver.key" \
  -recip "$scratch/receiver.crt" -out "$scratch/decrypted" || fail "openssl cms -decrypt"
cmp -s "$scratch/payload" "$scratch/decrypted" || fail "the decrypted message is not the payload"
# /metrics answers a token only (METRICS_REQUIRE_TOKEN's default), and the monitor's token opens it.
[[ $(curl -sS -o /dev/null -w '%{http_code}' "$url/metrics") == 401 ]] || fail "/metrics answers without a token"
call GET /metrics "$(token monitor)" 200
# The console ships in the image, bundled, under its own strict CSP.
[[ $(curl -sS -o /dev/null -w '%{http_code}' "$url/console/console.js") == 200 ]] ||
  fail "/console/console.js is not served"
console_csp="^content-security-policy: default-src 'self'; script-src 'self'; style-src 'self'"
curl -sS -D - -o /dev/null "$url/console/" | grep -qi "$console_csp" ||
  fail "/console/ is not served under the console's CSP"
phase "encrypt decrypted by openssl cms, console served, uid $uid, no build tools"

size=$(docker image inspect --format '{{.Size}}' "$image")
say "passed: $image is $((size / 1000000)) MB ($size bytes), base $base"
