#!/usr/bin/env bash
# make deploy: build and push the stream host image (arm64, tagged with the git SHA, deployed by digest),
# then sam build + sam deploy.
# DRY_RUN=1 prints every command instead of running it, so the whole path is checkable without AWS.
set -euo pipefail
cd "$(dirname "$0")/.."

ENV="${ENV:-dev}"
SAM="${SAM:-sam}"
DRY_RUN="${DRY_RUN:-}"
case "$ENV" in dev | prod) ;; *) echo "ENV must be dev or prod, not '$ENV'" >&2; exit 2 ;; esac
# samconfig.toml names the dev environment "default".
CONFIG_ENV=$([ "$ENV" = dev ] && echo default || echo "$ENV")

run() {
  if [ -n "$DRY_RUN" ]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

if [ -n "$(git status --porcelain 2>/dev/null)" ] && [ -z "$DRY_RUN" ]; then
  echo "The work tree has uncommitted changes: the image tag is the git SHA, so commit first." >&2
  exit 1
fi
SHA="$(git rev-parse --short=12 HEAD)"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
if [ -n "$DRY_RUN" ]; then
  ACCOUNT="${AWS_ACCOUNT_ID:-123456789012}"
else
  ACCOUNT="$(aws sts get-caller-identity --query Account --output text)"
fi
REPO="ai-phone-calls-stream-${ENV}"
REGISTRY="${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com"
IMAGE="${REGISTRY}/${REPO}:${SHA}"

# 1. The ECR repository (created once, immutable tags so a SHA always names one image).
if [ -n "$DRY_RUN" ] || ! aws ecr describe-repositories --repository-names "$REPO" --region "$REGION" >/dev/null 2>&1; then
  run aws ecr create-repository --repository-name "$REPO" --region "$REGION" \
    --image-tag-mutability IMMUTABLE --image-scanning-configuration scanOnPush=true
fi

# 2. Build for arm64 (Fargate Graviton) and push.
if [ -n "$DRY_RUN" ]; then
  run sh -c "aws ecr get-login-password --region $REGION | docker login --username AWS --password-stdin $REGISTRY"
else
  aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY"
fi
# Images by digest, never by a tag that can move: the base image is resolved to its digest now and
# built from it, and the stack runs the pushed image by its digest (the tag stays for people).
# DRY_RUN cannot ask a registry, so it prints a placeholder digest.
digest_of() {
  if [ -n "$DRY_RUN" ]; then
    echo "sha256:$(printf '0%.0s' $(seq 64))"
  else
    docker buildx imagetools inspect "$1" --format '{{json .Manifest.Digest}}' | tr -d '"'
  fi
}
# repo[:tag][@digest] -> repo (a registry's :port stays: only a ':' in the last path part is a tag).
repository_of() {
  local ref="${1%@*}" last="${1%@*}"
  last="${last##*/}"
  case "$last" in *:*) ref="${ref%:*}" ;; esac
  echo "$ref"
}
BASE_TAG="$(sed -n 's/^ARG PYTHON_IMAGE=//p' stream_server/Dockerfile)"
BASE_IMAGE="$(repository_of "$BASE_TAG")@$(digest_of "$BASE_TAG")"
AGENT_TAG="${CLOUDWATCH_AGENT_IMAGE:-public.ecr.aws/cloudwatch-agent/cloudwatch-agent:latest}"
AGENT_IMAGE="$(repository_of "$AGENT_TAG")@$(digest_of "$AGENT_TAG")"
METADATA="$(mktemp)"
trap 'rm -f "$METADATA"' EXIT
run docker buildx build --platform linux/arm64 -f stream_server/Dockerfile \
  --build-arg "PYTHON_IMAGE=${BASE_IMAGE}" -t "$IMAGE" --metadata-file "$METADATA" --push .
if [ -n "$DRY_RUN" ]; then
  IMAGE_DIGEST="$(digest_of "$IMAGE")"
else
  IMAGE_DIGEST="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' "$METADATA")"
fi
PINNED_IMAGE="${REGISTRY}/${REPO}@${IMAGE_DIGEST}"

# 3. The serverless half, with the image wired in.
if [ -z "${PY313_DIR:-}" ] && [ -z "$DRY_RUN" ]; then
  echo "python3.13 is needed by sam build (python3.13 runtime)" >&2
  exit 1
fi
run env PATH="${PY313_DIR:-/usr/bin}:$PATH" "$SAM" build --parallel
# Lambda cannot write bytecode caches (read-only code), so ship them; see the Makefile's sam-build.
run "${PY313_DIR:-/usr/bin}/python3.13" -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build
# --parameter-overrides on the command line replaces samconfig's list instead of merging with it, so the
# environment's own overrides are read back and the image is appended.
OVERRIDES="$(python3 -c 'import sys, tomllib
cfg = tomllib.load(open("samconfig.toml", "rb"))
print(cfg[sys.argv[1]]["deploy"]["parameters"].get("parameter_overrides", ""))' "$CONFIG_ENV")"
# shellcheck disable=SC2086 # the overrides are space-separated Key=Value words, split on purpose
run "$SAM" deploy --config-env "$CONFIG_ENV" --region "$REGION" \
  --parameter-overrides $OVERRIDES "StreamImageUri=${PINNED_IMAGE}" "CloudWatchAgentImage=${AGENT_IMAGE}" \
  --no-fail-on-empty-changeset

# 4. What to do next.
STACK="ai-phone-calls-${ENV}"
if [ -z "$DRY_RUN" ]; then
  aws cloudformation describe-stacks --stack-name "$STACK" --region "$REGION" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
fi
cat <<EOT

Deployed image ${IMAGE} (${PINNED_IMAGE}) to stack ${STACK}.
- API key value:  aws apigateway get-api-key --api-key <ApiKeyId output> --include-value --query value --output text
- Twilio number:  set "A call comes in" to POST <ApiUrl output>/twilio/answer
- Place a call:   curl -X POST <ApiUrl output>/calls -H "x-api-key: ..." -d '{"to":"+1...","persona_id":"..."}'
EOT
