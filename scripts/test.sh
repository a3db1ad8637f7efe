#!/usr/bin/env bash
# The project's one test command: installs what the tests need, checks formatting and lints,
# starts the local services (Elasticsearch node, OpenSearch node with the ingest plugins of the oracle,
# moto) once, runs every test (the oracle tests, tests/oracle*.rs, read ../shared/oracle or CURSOR_ORACLE_DIR),
# stops them.
#
#   scripts/test.sh            everything
#   scripts/test.sh -- ARGS    extra arguments for `cargo test` (e.g. a test name filter)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
started=$(date +%s)

step() { printf '\n==> %s\n' "$*"; }
# One build from scratch: incremental state would only take disk (CI's disk is small).
export CARGO_INCREMENTAL=0

step "toolchain"
for tool in cargo rustc python3 java mvn; do
    command -v "$tool" >/dev/null || { echo "missing $tool: install it first" >&2; exit 1; }
done
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done
cargo --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "build (tests and release binary)"
cargo build --release --quiet
cargo test --no-run --quiet
echo "target/: $(du -sh target | cut -f1); disk: $(df -h --output=avail . | tail -n 1 | tr -d ' ') free"

step "SAM template: cfn-lint, sam validate --lint, sam build (arm64 Lambda package)"
# The tools come from tests/requirements.txt (target/venv); `sam build` runs cargo-lambda, which
# cross-compiles for aarch64 with zig from the ziglang wheel (no Docker), into target/.
"$ROOT/scripts/services.sh" install
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu
fi
sam_started=$SECONDS
(
    export PATH="$ROOT/target/venv/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 \
        AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    unset AWS_PROFILE AWS_SESSION_TOKEN
    cfn-lint template.yaml
    # both ways of naming the cluster: a secret (Elasticsearch, OpenSearch) or an Amazon
    # OpenSearch Service domain signed with SigV4
    common=(AuditBucketName=audit CursorApiKeySecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:cursor-AbCdEf)
    cfn-lint template.yaml --parameters "${common[@]}" \
        ElasticsearchSecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-AbCdEf
    cfn-lint template.yaml --parameters "${common[@]}" \
        OpenSearchDomainArn=arn:aws:es:eu-west-1:123456789012:domain/audit-logs \
        OpenSearchEndpoint=https://search-audit-logs-abc123.eu-west-1.es.amazonaws.com
    # the deployment variants: in a VPC, a bucket in another account notifying through SNS,
    # EventBridge notifications, an existing dead-letter bucket and an e-mailed alarm topic
    es=ElasticsearchSecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-AbCdEf
    cfn-lint template.yaml --parameters "${common[@]}" "$es" \
        VpcSubnetIds=subnet-0123456789abcdef0,subnet-0123456789abcdef1 VpcSecurityGroupIds=sg-0123456789abcdef0
    cfn-lint template.yaml --parameters "${common[@]}" "$es" AuditBucketAccountId=210987654321 \
        NotificationSource=sns AuditBucketTopicArn=arn:aws:sns:eu-west-1:210987654321:audit-objects
    cfn-lint template.yaml --parameters "${common[@]}" "$es" NotificationSource=eventbridge AuditKeyPrefix=cursor/
    cfn-lint template.yaml --parameters "${common[@]}" "$es" DeadLetterBucketName=my-dead-letters \
        AlarmEmail=secops@example.com
    # a Cursor Organization: the team list in a secret, each team's key in its own
    cfn-lint template.yaml --parameters AuditBucketName=audit "$es" \
        CursorTeamsSecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:teams-AbCdEf \
        CursorTeamKeySecretArns=arn:aws:secretsmanager:eu-west-1:123456789012:secret:eng-AbCdEf,arn:aws:secretsmanager:eu-west-1:123456789012:secret:ops-AbCdEf
    # the webhook receiver: its archive in the dead-letter bucket (the audit bucket, or one of
    # its own), or in a bucket named for it
    webhook=(EnableWebhook=true
        WebhookTokenSecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhook-AbCdEf
        ElasticsearchSecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:es-AbCdEf)
    cfn-lint template.yaml --parameters "${common[@]}" "${webhook[@]}"
    cfn-lint template.yaml --parameters "${common[@]}" "${webhook[@]}" DeadLetterBucketName=dead-letters
    cfn-lint template.yaml --parameters "${common[@]}" "${webhook[@]}" \
        WebhookArchiveBucketName=webhook-archive AuditKeyPrefix=cursor/ EnableApiPoller=false
    sam validate --lint
    mkdir -p target/sam
    if ! sam build --build-dir target/sam/build >target/sam/build.log 2>&1; then
        tail -n 60 target/sam/build.log >&2
        echo "sam build failed; see target/sam/build.log" >&2
        exit 1
    fi
)
bootstrap="$(find target/sam/build -name bootstrap -type f -print -quit)"
[[ -n "$bootstrap" && "$(od -An -tu2 -j18 -N2 "$bootstrap" | tr -d ' ')" == 183 ]] \
    || { echo "sam build did not produce an aarch64 bootstrap" >&2; exit 1; }
echo "template checks and sam build in $((SECONDS - sam_started)) s; $bootstrap: $(stat -c %s "$bootstrap") bytes"

step "scripts/package.sh (the arm64 zip, its SHA-256 and the template that deploys it)"
package_started=$SECONDS
DIST="$ROOT/target/dist" BOOTSTRAP="$ROOT/$bootstrap" "$ROOT/scripts/package.sh"
(
    cd "$ROOT/target/dist"
    sha256sum -c ./*.zip.sha256
    python3 - ./*.zip <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    data = z.read("bootstrap")
    mode = z.getinfo("bootstrap").external_attr >> 16
assert data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == 183, "not an aarch64 ELF"
assert mode & 0o111, "bootstrap is not executable"
print(f"bootstrap: aarch64 ELF, {len(data)} bytes, mode {oct(mode & 0o777)}")
PY
    export PATH="$ROOT/target/venv/bin:$PATH" AWS_DEFAULT_REGION=us-east-1
    cfn-lint template.yaml
    if grep -q "rust-cargolambda" template.yaml; then
        echo "target/dist/template.yaml still builds from source" >&2
        exit 1
    fi
)
echo "package checks in $((SECONDS - package_started)) s"

step "start local services (Elasticsearch, OpenSearch, moto)"
stop_services() { "$ROOT/scripts/services.sh" stop || true; }
trap stop_services EXIT
ENGINE=opensearch "$ROOT/scripts/services.sh" start
set -a
# shellcheck disable=SC1091
. "$ROOT/target/services.env"
set +a

step "cargo test"
extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi
cargo test --no-fail-fast "${extra[@]}"

if [ ${#extra[@]} -eq 0 ]; then
    step "detection rules (rules/): pySigma validation, rules/dist up to date, examples on both engines"
    "$ROOT/target/venv/bin/python" rules/convert.py --check
    "$ROOT/target/venv/bin/python" tests/rules/test_rules.py

    step "emulated deployment (tests/deploy/emulated_stack.py: template -> moto stack, each function as its role)"
    "$ROOT/target/venv/bin/python" "$ROOT/tests/deploy/emulated_stack.py" > target/deploy.log 2>&1 \
        || { grep -v UserWarning target/deploy.log | tail -n 80 >&2; exit 1; }
    sed -n '/^### Policy statements/,$p' target/deploy.log

    step "scripts/demo.sh (docs/development.md's local pipeline: S3 → SQS → handler under cargo-lambda → engine)"
    "$ROOT/scripts/demo.sh" > target/demo.log 2>&1 || { tail -n 40 target/demo.log >&2; exit 1; }
    tail -n 2 target/demo.log
fi

echo
echo "scripts/test.sh: all checks passed in $(( $(date +%s) - started )) s"
