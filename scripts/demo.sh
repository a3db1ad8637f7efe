#!/usr/bin/env bash
# The S3 path end to end on this machine, as deployed by template.yaml but against the local
# services (moto for S3/SQS/DynamoDB, a real Elasticsearch node):
#
#   1. scripts/services.sh start (unless both services already answer), release build, `setup`
#   2. moto: the progress table, the bucket cursor-audit-example, the notification queue; the
#      bucket notification is put by the template's own custom-resource code (the inline Python
#      of BucketNotificationFunction, run here against moto), merged with an unrelated one
#   3. upload events/sample/2026/11/25/cursor-audit-20261125T1200Z.jsonl.gz; moto's S3 delivers
#      the ObjectCreated notification to the queue, passed to the handler as it arrived
#   4. receive the queue's messages, build the SQS event Lambda would send, and invoke the
#      handler under cargo-lambda (`cargo lambda watch` + `cargo lambda invoke`); on success
#      delete the messages, as the event source mapping does
#   5. print the document count of logs-cursor.audit-<namespace> and one document; exit 0 only
#      when the count equals the sample's non-blank lines
#
#   scripts/demo.sh
#
# Environment knobs:
#   DEMO_NAMESPACE=demo         data stream namespace (the data stream is deleted and refilled)
#   DEMO_KEEP_SERVICES=1        leave the services running even when this script started them
# Services that were already running are left running. Scratch files: target/demo/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

NAMESPACE="${DEMO_NAMESPACE:-demo}"
BUCKET=cursor-audit-example
KEY=2026/11/25/cursor-audit-20261125T1200Z.jsonl.gz
SAMPLE="$ROOT/events/sample/$KEY"
QUEUE=cursor-audit-demo-notifications
OTHER_QUEUE=cursor-audit-demo-someone-else
TABLE=cursor-audit-demo-progress
STREAM="logs-cursor.audit-$NAMESPACE"
DEMO_DIR="$ROOT/target/demo"
VENV="$ROOT/target/venv"
PY="$VENV/bin/python"

step() { printf '\n==> %s\n' "$*"; }

started_services=0
watch_pid=""
cleanup() {
    local rc=$?
    if [[ -n "$watch_pid" ]]; then
        kill -TERM -- "-$watch_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$watch_pid" 2>/dev/null || true
    fi
    if ((started_services)) && [[ "${DEMO_KEEP_SERVICES:-0}" != 1 ]]; then
        "$ROOT/scripts/services.sh" stop || true
    fi
    exit "$rc"
}
trap cleanup EXIT

step "local services"
if "$ROOT/scripts/services.sh" status >/dev/null 2>&1; then
    echo "already running (left running afterwards)"
else
    started_services=1
    "$ROOT/scripts/services.sh" start
fi
set -a
# shellcheck disable=SC1091
. "$ROOT/target/services.env"
set +a
echo "Elasticsearch $ES_URL, moto $AWS_ENDPOINT_URL"
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"

step "release build"
cargo build --release --quiet
BIN="$ROOT/target/release/cursor-audit-forwarder"

step "cursor-audit-forwarder setup"
"$BIN" setup

step "moto: table, bucket, queue, bucket notification (template's custom resource), upload"
# stdout: the SQS event for the handler (written to $DEMO_DIR/sqs-event.json)
"$PY" - "$ROOT/template.yaml" "$BUCKET" "$KEY" "$SAMPLE" "$QUEUE" "$OTHER_QUEUE" "$TABLE" \
    "$DEMO_DIR" "$ES_URL" "$STREAM" <<'PY'
import hashlib, http.server, json, sys, threading, time, types, urllib.error, urllib.request
import boto3
from cfnlint.decode import decode

template, bucket, key, sample, queue, other_queue, table, demo_dir, es_url, stream = sys.argv[1:]
s3, sqs, ddb = boto3.client("s3"), boto3.client("sqs"), boto3.client("dynamodb")

# A fresh start, so that a second run shows the same thing: empty data stream, empty table.
try:
    urllib.request.urlopen(urllib.request.Request(f"{es_url}/_data_stream/{stream}", method="DELETE"))
    print(f"deleted the data stream {stream} of an earlier run")
except urllib.error.HTTPError as e:
    if e.code != 404:
        raise
try:
    ddb.delete_table(TableName=table)
    ddb.get_waiter("table_not_exists").wait(TableName=table)
except ddb.exceptions.ResourceNotFoundException:
    pass
# as template.yaml's CheckpointTable
ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
ddb.get_waiter("table_exists").wait(TableName=table)
ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
print(f"table {table}")

try:
    s3.create_bucket(Bucket=bucket)
except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
    pass
urls = {}
for name in (queue, other_queue):
    urls[name] = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "2100"})["QueueUrl"]
    try:
        sqs.purge_queue(QueueUrl=urls[name])
    except sqs.exceptions.PurgeQueueInProgress:  # AWS allows one purge a minute
        while batch := sqs.receive_message(QueueUrl=urls[name], MaxNumberOfMessages=10).get("Messages"):
            for m in batch:
                sqs.delete_message(QueueUrl=urls[name], ReceiptHandle=m["ReceiptHandle"])
arn = lambda name: sqs.get_queue_attributes(QueueUrl=urls[name], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
print(f"bucket {bucket}, queue {urls[queue]}")

# Somebody else's notification on the bucket, which the custom resource must keep.
other = {"Id": "someone-else", "QueueArn": arn(other_queue), "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "other/"}]}}}
s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [other]})

# The custom resource's inline code from template.yaml, run as CloudFormation would run it.
code = decode(template)[0]["Resources"]["BucketNotificationFunction"]["Properties"]["Code"]["ZipFile"]
module = types.ModuleType("index")
exec(compile(code, "template.yaml:BucketNotificationFunction", "exec"), module.__dict__)
module.print = lambda *args, **kwargs: None  # its CloudWatch log lines
answers = []
class ResponseUrl(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), ResponseUrl)
threading.Thread(target=server.serve_forever, daemon=True).start()
context = types.SimpleNamespace(log_stream_name="demo", get_remaining_time_in_millis=lambda: 120_000)
def custom_resource(request_type):
    answers.clear()
    module.handler({
        "RequestType": request_type, "ResponseURL": f"http://127.0.0.1:{server.server_port}/response",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/demo/00000000",
        "RequestId": f"demo-{request_type}", "LogicalResourceId": "BucketNotification",
        "ResourceType": "Custom::BucketNotification",
        **({"PhysicalResourceId": f"{bucket}/demo-cursor-audit-forwarder"} if request_type != "Create" else {}),
        "ResourceProperties": {"Bucket": bucket, "QueueArn": arn(queue),
                               "ConfigurationId": "demo-cursor-audit-forwarder", "Prefix": "", "Suffix": ".gz"},
    }, context)
    assert len(answers) == 1 and answers[0]["Status"] == "SUCCESS", answers
    return sorted(q["Id"] for q in s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", []))
ids = custom_resource("Create")
assert ids == ["demo-cursor-audit-forwarder", "someone-else"], ids
print(f"custom resource Create: SUCCESS, bucket notifications {ids}")

with open(sample, "rb") as f:
    s3.put_object(Bucket=bucket, Key=key, Body=f.read())
print(f"uploaded s3://{bucket}/{key}")

# Receive what S3 delivered (moto also sends an s3:TestEvent when the configuration is put).
messages, deadline = [], time.time() + 20
while time.time() < deadline and not any("ObjectCreated" in m["Body"] for m in messages):
    messages += sqs.receive_message(QueueUrl=urls[queue], MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    AttributeNames=["All"]).get("Messages", [])
if not any("ObjectCreated" in m["Body"] for m in messages):
    sys.exit("no ObjectCreated notification arrived in the queue")
print(f"received {len(messages)} message(s) from the queue: "
      + ", ".join(json.loads(m["Body"]).get("Event") or json.loads(m["Body"])["Records"][0]["eventName"] for m in messages))

# The event the SQS event source mapping would send.
event = {"Records": []}
for m in messages:
    body = m["Body"]  # exactly what moto's S3 delivered
    event["Records"].append({
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": body,
        "attributes": m.get("Attributes", {}), "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs", "eventSourceARN": arn(queue), "awsRegion": "us-east-1"})
with open(f"{demo_dir}/sqs-event.json", "w") as f:
    json.dump(event, f, indent=2)
with open(f"{demo_dir}/queue.json", "w") as f:
    json.dump({"url": urls[queue], "handles": {m["MessageId"]: m["ReceiptHandle"] for m in messages}}, f)

# The stack's delete: only this stack's notification goes.
ids = custom_resource("Delete")
assert ids == ["someone-else"], ids
print(f"custom resource Delete: SUCCESS, bucket notifications {ids}")
PY

step "invoke the handler under cargo-lambda"
cat >"$DEMO_DIR/lambda.env" <<EOF
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=$AWS_REGION
AWS_DEFAULT_REGION=$AWS_DEFAULT_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
ES_URL=$ES_URL
DATA_STREAM_NAMESPACE=$NAMESPACE
DEAD_LETTER_BUCKET=$BUCKET
DEAD_LETTER_PREFIX=dead-letter/
CHECKPOINT_TABLE=$TABLE
METRICS_NAMESPACE=CursorAuditForwarder
RUST_LOG=info
EOF
port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export PATH="$VENV/bin:$PATH"
setsid cargo lambda watch --release --ignore-changes -A 127.0.0.1 -P "$port" \
    --env-file "$DEMO_DIR/lambda.env" >"$DEMO_DIR/watch.log" 2>&1 </dev/null &
watch_pid=$!
"$PY" - "$port" "$watch_pid" <<'PY'
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 300
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if time.time() > deadline or not os.path.exists(f"/proc/{pid}"):
            sys.exit(f"cargo lambda watch did not start; see target/demo/watch.log")
        time.sleep(0.2)
PY
echo "cargo lambda watch on 127.0.0.1:$port (log: target/demo/watch.log)"
response="$(cargo lambda invoke -A 127.0.0.1 -P "$port" --data-file "$DEMO_DIR/sqs-event.json" cursor-audit-forwarder)"
echo "handler response: $response"

step "result"
"$PY" - "$ES_URL" "$STREAM" "$SAMPLE" "$response" "$DEMO_DIR/queue.json" <<'PY'
import gzip, json, sys, urllib.error, urllib.request
import boto3

es_url, stream, sample, response, queue_file = sys.argv[1:]
failures = json.loads(response).get("batchItemFailures")
queue = json.load(open(queue_file))
if failures == []:
    # what the event source mapping does with a batch that reported no failures
    sqs = boto3.client("sqs")
    for handle in queue["handles"].values():
        sqs.delete_message(QueueUrl=queue["url"], ReceiptHandle=handle)
    print(f"batch acknowledged: deleted {len(queue['handles'])} message(s) from the queue")
else:
    print(f"the handler reported failed messages: {failures}")

def es(path, method="GET"):
    with urllib.request.urlopen(urllib.request.Request(es_url + path, method=method)) as r:
        return json.load(r)
expected = sum(1 for line in gzip.open(sample, "rt", encoding="utf-8") if line.strip())
try:
    es(f"/{stream}/_refresh", "POST")
    count = es(f"/{stream}/_count")["count"]
except urllib.error.HTTPError as e:
    if e.code != 404:
        raise
    count = 0
if count:
    hit = es(f"/{stream}/_search?size=1&sort=@timestamp:asc")["hits"]["hits"][0]
    print(f"one document (_id {hit['_id']}):")
    print(json.dumps(hit["_source"], indent=2, ensure_ascii=False))
print(f"\n{stream}: {count} documents; the sample has {expected} non-blank lines")
if count != expected or failures != []:
    sys.exit("demo FAILED")
print("demo passed")
PY
