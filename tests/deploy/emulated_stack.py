"""An emulated deployment (issue 19): template.yaml -> CloudFormation (aws-sam-translator, offline)
-> a stack in a moto server of its own, with realistic parameters (an existing audit bucket, two
Secrets Manager secrets encrypted with a KMS key, that key as the audit bucket's key too), and the
OpenSearch-domain variant beside it. Then, with moto's access control ON and each function's own
role (assumed through STS) and the environment the stack gave the function:

  * the custom resource's inline code (Create, Update, Delete), answering the stack's ResponseURL;
  * the S3 forwarder on a real bucket notification (S3 -> the stack's queue, received with the
    forwarder role as the event source mapping would), with a document the cluster rejects (a dead
    letter), under cargo-lambda's local Lambda runtime;
  * the poller against a small fake of the Cursor Admin API (GET /teams/audit-logs, Basic auth),
    under the same runtime with the scheduled event;
  * for every statement of every role's inline policy: the run without it fails (the statement
    table, Markdown), and passes again once it is back;
  * a static check of the translated template: every Resource of every policy statement is a
    resource of the stack (Ref / GetAtt / Sub of it) or built from a parameter (moto checks
    resources only for S3, SQS, IAM and STS; DynamoDB, Secrets Manager, KMS and Logs only by action).

Usage: target/venv/bin/python tests/deploy/emulated_stack.py
  ES_URL (else target/services.env) names the Elasticsearch node; the release binary must be built.
  DEPLOY_BINARY overrides target/release/cursor-audit-forwarder (the CLI runs only); DEPLOY_LAMBDA_RUNTIME=0
  runs the two happy paths through the CLI (ship s3://…, poll --once) instead of cargo-lambda.
Prints `deploy: N passed, M failed` last; exits 1 when anything failed.
"""

import base64
import contextlib
import gzip
import hashlib
import http.server
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / "target" / "venv" / "bin"
BINARY = Path(os.environ.get("DEPLOY_BINARY", ROOT / "target" / "release" / "cursor-audit-forwarder"))
REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "cursor-audit"
OS_STACK = "cursor-audit-os"
TEAMS_STACK = "cursor-audit-teams"
API_KEY = "key_deploy_0001"
CODE_BUCKET = "deploy-code"
WORK = ROOT / "target" / "deploy"  # logs of each run (moto, cargo-lambda), kept for a look afterwards
# What moto reports for a refused request: AccessDenied (S3, SQS, IAM, STS as XML, parsed), or
# for DynamoDB and Secrets Manager an XML error body the Rust SDK (JSON protocols) cannot parse.
DENIED = re.compile(r"AccessDenied|not authorized|Access Denied|is not authorized|"
                    r"failed to parse|unhandled error|Unable to parse|ParseError|invalid XML|"
                    r"unexpected|ResponseError|service error", re.I)

passed, failed = 0, 0
table = []  # (role, statement, what failed without it)
started = time.time()


def log(*args):
    print(*args, flush=True)


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        log(f"  ok   {name}")
    else:
        failed += 1
        log(f"  FAIL {name}" + (f"\n       {detail}" if detail else ""))
    return ok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def es_url():
    if os.environ.get("ES_URL"):
        return os.environ["ES_URL"]
    env = (ROOT / "target" / "services.env").read_text()
    return re.search(r"^ES_URL=(.*)$", env, re.M).group(1).strip()


# ------------------------------------------------------------------ template -> CloudFormation

def package():
    """What scripts/package.sh made (DIST, default target/dist): the template that deploys the
    zip without a Rust toolchain, and the zip. The stack is created from exactly these."""
    dist = Path(os.environ.get("DIST", ROOT / "target" / "dist"))
    zips = sorted(dist.glob("cursor-audit-forwarder-*-arm64.zip"))
    if not zips or not (dist / "template.yaml").exists():
        sys.exit(f"no package in {dist}: run scripts/package.sh first (DIST={dist})")
    return dist / "template.yaml", zips[-1]


def translate(template):
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    from samcli.yamlhelper import yaml_parse
    from samtranslator.translator.transform import transform

    sam = yaml_parse(template.read_text())
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{CODE_BUCKET}/bootstrap.zip"

    class NoManagedPolicies:  # every function names its own Role: no managed policy is looked up
        def load(self):
            return {}

    return transform(sam, {}, NoManagedPolicies())


PSEUDO = {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::StackId",
          "AWS::URLSuffix", "AWS::NoValue"}


def static_resource_check(cfn):
    """Every Resource of every inline policy statement names a resource of this template (Ref,
    GetAtt, or ${Resource} / ${Resource.Attr} in a Sub) or is built from parameters and pseudo
    parameters; no literal ARN, no wildcard beyond the key suffix of a parameter's prefix."""
    resources, params = set(cfn["Resources"]), set(cfn.get("Parameters", {}))
    problems = []

    def ok_name(name):
        base = name.split(".")[0]
        return base in resources or name in params or name in PSEUDO

    def check_value(v, where, sub_vars=()):
        if isinstance(v, str):
            problems.append(f"{where}: literal {v!r}")
        elif isinstance(v, dict) and len(v) == 1:
            (fn, arg), = v.items()
            if fn == "Ref":
                if not ok_name(arg):
                    problems.append(f"{where}: Ref {arg}")
            elif fn == "Fn::GetAtt":
                if arg[0] not in resources:
                    problems.append(f"{where}: GetAtt {arg}")
            elif fn == "Fn::If":
                for branch in arg[1:]:
                    if branch != {"Ref": "AWS::NoValue"}:
                        check_value(branch, where)
            elif fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                names = re.findall(r"\$\{([^}!]+)\}", text)
                if all(n in PSEUDO for n in names):
                    problems.append(f"{where}: {text!r} names no resource and no parameter")
                for name in names:
                    if name in variables:
                        check_value(variables[name], f"{where} ${{{name}}}")
                    elif not ok_name(name):
                        problems.append(f"{where}: ${{{name}}}")
                literal = re.sub(r"\$\{[^}]+\}", "", text)
                # what is left must be ARN scaffolding, e.g. "arn::s3:::/*"
                if not re.fullmatch(r"(arn:+(s3|es|dynamodb|sqs|logs|secretsmanager|kms)?:*)?/?\*?", literal):
                    problems.append(f"{where}: Sub literal part {literal!r} of {text!r}")
                if literal.endswith("*") and not re.search(r"\}/?\*$", text):
                    problems.append(f"{where}: wildcard not after a name: {text!r}")
            elif fn in ("Fn::Select", "Fn::Split"):
                inner = arg[1]
                if isinstance(inner, dict):
                    check_value(inner, where)
                # a literal separator / index is fine
            else:
                problems.append(f"{where}: {fn}")
        elif isinstance(v, list):
            for item in v:
                check_value(item, where)
        else:
            problems.append(f"{where}: {v!r}")

    statements = 0
    for logical, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                branches = statement["Fn::If"][1:] if "Fn::If" in statement else [statement]
                for st in branches:
                    if st == {"Ref": "AWS::NoValue"}:
                        continue
                    statements += 1
                    resource_value = st.get("Resource")
                    if resource_value is None or resource_value == "*":
                        problems.append(f"{logical}/{st.get('Sid')}: Resource {resource_value!r}")
                        continue
                    check_value(resource_value, f"{logical}/{st.get('Sid')}")
    return statements, problems


# ------------------------------------------------------------------ moto

class Moto:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.enforcing = False
        self.dir = Path(tempfile.mkdtemp(prefix="moto-", dir=WORK))
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="inf")
        self.log = open(self.dir / "moto.log", "wb")
        self.proc = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=2).read()
                break
            except Exception:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"moto_server did not start; see {self.dir}/moto.log")
                time.sleep(0.2)

    def refusals(self):
        """How many requests moto has answered 403 (access control's refusals) so far."""
        self.log.flush()
        return len(re.findall(rb'" 403 -', (self.dir / "moto.log").read_bytes()))

    def auth(self, on):
        """Access control on (every request checked against the caller's policies) or off."""
        self.enforcing = on
        body = b"0" if on else b"inf"
        urllib.request.urlopen(urllib.request.Request(self.url + "/moto-api/reset-auth", data=body,
                                                      method="POST", headers={"Content-Type": "text/plain"}), timeout=10).read()

    @contextlib.contextmanager
    def admin(self):
        """Access control off for the operator's (or AWS's own) calls, then as it was."""
        was = self.enforcing
        self.auth(False)
        try:
            yield
        finally:
            if was:
                self.auth(True)

    def stop(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)


def client(service, endpoint, creds=None):
    creds = creds or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        config=Config(retries={"max_attempts": 1}), **creds)


# ------------------------------------------------------------------ intrinsic functions, resolved
# with the stack's real values (for the custom resource's properties)

class Resolver:
    def __init__(self, cfn, params, physical, attrs):
        self.cfn, self.params, self.physical, self.attrs = cfn, params, physical, attrs
        self.pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                       "AWS::StackName": STACK, "AWS::URLSuffix": "amazonaws.com"}

    def condition(self, name):
        return self.value(self.cfn["Conditions"][name])

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        return self.physical[name]

    def value(self, v):
        if isinstance(v, list):
            return [x for x in (self.value(i) for i in v) if x is not None]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (fn, arg), = v.items()
            if fn == "Ref":
                return None if arg == "AWS::NoValue" else self.ref(arg)
            if fn == "Fn::GetAtt":
                return self.attrs[(arg[0], arg[1])]
            if fn == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if fn == "Fn::Equals":
                return self.value(arg[0]) == self.value(arg[1])
            if fn == "Fn::Not":
                return not self.value(arg[0])
            if fn == "Fn::And":
                return all(self.value(a) for a in arg)
            if fn == "Fn::Or":
                return any(self.value(a) for a in arg)
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                values = {k: self.value(x) for k, x in variables.items()}

                def one(m):
                    name = m.group(1)
                    if name in values:
                        return str(values[name])
                    if "." in name:
                        return str(self.attrs[tuple(name.split(".", 1))])
                    return str(self.ref(name))
                return re.sub(r"\$\{([^}!]+)\}", one, text)
            if fn == "Fn::Select":
                return self.value(arg[1])[int(self.value(arg[0]))]
            if fn == "Fn::Split":
                return self.value(arg[1]).split(arg[0])
        return {k: self.value(x) for k, x in v.items()}


# ------------------------------------------------------------------ a fake Cursor Admin API

class FakeCursor:
    """GET /teams/audit-logs as docs/cursor-admin-api.md describes it: Basic auth with the key as
    user name, the events inside [startTime, endTime], one page. Enough for the poller's AWS side
    (its contract with the API is tested by tests/poller.rs against tests/support/fake_cursor.rs)."""

    def __init__(self, key, events):
        self.events, self.requests = events, []
        expected = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                outer.requests.append(query)
                if url.path != "/teams/audit-logs":
                    return self.answer(404, {"error": "not found"})
                if self.headers.get("Authorization") != expected:
                    return self.answer(401, {"error": "Unauthorized"})

                def at(text):
                    return datetime.fromisoformat(text.replace("Z", "+00:00"))
                start, end = at(query["startTime"]), at(query["endTime"])
                selected = [e for e in outer.events if start <= at(e["timestamp"]) <= end]
                selected.sort(key=lambda e: e["timestamp"], reverse=True)
                self.answer(200, {"events": selected, "pagination": {
                    "page": int(query.get("page", 1)), "pageSize": int(query.get("pageSize", 100)),
                    "totalCount": len(selected), "totalPages": 1, "hasNextPage": False,
                    "hasPreviousPage": False}, "params": {"teamId": 9990001}})

            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def cursor_event(event_id, when, event_type="login", data=None):
    return {"event_id": event_id, "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "ip_address": "192.0.2.10", "user_email": "admin@example.com", "event_type": event_type,
            "event_data": data if data is not None else {"success": True}}


def rejected_event(event_id, when):
    # `success` is a boolean in the mapping: "maybe" cannot be indexed (a dead letter)
    return cursor_event(event_id, when, "login", {"success": "maybe"})


# ------------------------------------------------------------------ the binary, as a role

def clean_environ():
    """This process's environment without any setting the binary reads (scripts/test.sh exports
    target/services.env: the shared moto, ES_URL …): only the stack's environment counts."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("AWS_", "ES_", "CURSOR_", "GEOIP_", "DEAD_LETTER", "CHECKPOINT", "OPENSEARCH_",
                                 "DATA_STREAM", "NORMALIZE", "S3_", "METRICS_", "RUST_LOG", "TAGS",
                                 "PRESERVE_ORIGINAL", "MAX_"))}


def function_env(lam, name, creds, endpoint, extra=None):
    env = clean_environ()
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    env.update({k: str(v) for k, v in variables.items() if v is not None})
    env.update({"AWS_ACCESS_KEY_ID": creds["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
                "AWS_SESSION_TOKEN": creds["aws_session_token"],
                "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                "AWS_EC2_METADATA_DISABLED": "true"})
    env.update(extra or {})
    return env


def run_binary(args, env, timeout=120):
    proc = subprocess.run([str(BINARY), *args], env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def denial_line(text):
    """The first log line naming a refusal, as `message: error` (JSON log lines) or the line."""
    for line in text.splitlines():
        if not DENIED.search(line):
            continue
        try:
            fields = json.loads(line).get("fields", {})
        except ValueError:
            return line.strip()
        error = str(fields.get("error", ""))
        m = DENIED.search(error)
        start = max(0, m.start() - 40) if m else 0
        return f"{fields.get('message', '')}: {'…' if start else ''}{error[start:start + 140]}…"
    return ""


def short(text, n=150):
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= n else text[: n - 1] + "…"


CUSTOM_RESOURCE_DRIVER = r'''
import http.server, json, sys, threading
sys.path.insert(0, sys.argv[1])
import index
answers = []
class Capture(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200); self.end_headers()
    def log_message(self, *args): pass
server = http.server.HTTPServer(("127.0.0.1", 0), Capture)
threading.Thread(target=server.serve_forever, daemon=True).start()
class Context:
    log_stream_name = "emulated"
    def get_remaining_time_in_millis(self): return 60000
event = json.loads(sys.stdin.read())
event["ResponseURL"] = "http://127.0.0.1:%d/answer" % server.server_port
index.handler(event, Context())
print(json.dumps(answers[-1]))
'''


class CustomResource:
    """The template's inline custom-resource code, run with boto3 as BucketNotificationRole; its
    answer is captured and forwarded to the stack's ResponseURL (in AWS a pre-signed S3 URL, which
    no role's policy governs) with access control off."""

    def __init__(self, cfn, moto, stack_id, creds, properties):
        self.dir = Path(tempfile.mkdtemp(prefix="custom-resource-", dir=WORK))
        code = cfn["Resources"]["BucketNotificationFunction"]["Properties"]["Code"]["ZipFile"]
        (self.dir / "index.py").write_text(code)
        (self.dir / "drive.py").write_text(CUSTOM_RESOURCE_DRIVER)
        self.moto, self.stack_id, self.creds, self.properties = moto, stack_id, creds, properties

    def request(self, kind, properties=None, old=None, physical=None):
        event = {"RequestType": kind, "StackId": self.stack_id, "RequestId": str(uuid.uuid4()),
                 "LogicalResourceId": "BucketNotification", "ResourceType": "Custom::BucketNotification",
                 "ResourceProperties": properties or self.properties}
        if old:
            event["OldResourceProperties"] = old
        if physical:
            event["PhysicalResourceId"] = physical
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": self.creds["aws_access_key_id"],
                    "AWS_SECRET_ACCESS_KEY": self.creds["aws_secret_access_key"],
                    "AWS_SESSION_TOKEN": self.creds["aws_session_token"],
                    "AWS_ENDPOINT_URL": self.moto.url, "AWS_DEFAULT_REGION": REGION})
        proc = subprocess.run([str(VENV_BIN / "python"), str(self.dir / "drive.py"), str(self.dir)],
                              input=json.dumps(event), capture_output=True, text=True, env=env, timeout=120)
        if proc.returncode != 0:
            return {"Status": "DRIVER-ERROR", "Reason": proc.stderr[-500:]}
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def forward(self, answer):
        url = f"{self.moto.url}/cloudformation_{REGION}/cfnresponse?stack={urllib.parse.quote(self.stack_id)}"
        with self.moto.admin():
            body = json.dumps(answer).encode()
            urllib.request.urlopen(urllib.request.Request(url, data=body, method="PUT", headers={
                "Content-Type": "application/json"}), timeout=10).read()


# ------------------------------------------------------------------ the stack

MOTO_RESOURCE_STAR = ("dynamodb:", "secretsmanager:", "kms:", "logs:")


def as_list(v):
    return v if isinstance(v, list) else [v]


def create_stack(moto, cfn, name, params):
    admin = lambda s: client(s, moto.url)  # noqa: E731
    cf = admin("cloudformation")
    cf.create_stack(StackName=name, TemplateBody=json.dumps(cfn), Capabilities=["CAPABILITY_IAM"],
                    Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId")
                for r in cf.describe_stack_resources(StackName=name)["StackResources"] if "LogicalResourceId" in r}
    return stack, physical


def role_policies(moto, role):
    """The role's inline policies as moto stored them (a Python dict's text, AWS::NoValue as None),
    as clean JSON documents."""
    import ast
    iam = client("iam", moto.url)
    out = {}
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        if isinstance(doc, str):
            try:
                doc = json.loads(doc)
            except ValueError:
                doc = ast.literal_eval(doc)

        def clean(v):
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items() if x is not None}
            if isinstance(v, list):
                return [clean(x) for x in v if x is not None]
            return v
        doc = clean(doc)
        doc["Statement"] = [s for s in doc["Statement"] if s]
        out[policy] = doc
    return out


def moto_form(doc, drop_sid=None):
    """The document moto enforces: the deployed statements (less `drop_sid`), with the resources of
    DynamoDB, Secrets Manager, KMS and Logs statements widened to "*" because moto authorizes those
    services against "*" only (their resources are checked statically instead)."""
    statements = []
    for st in doc["Statement"]:
        if st.get("Sid") == drop_sid:
            continue
        st = dict(st)
        if all(a.startswith(MOTO_RESOURCE_STAR) for a in as_list(st["Action"])):
            st["Resource"] = "*"
        st.pop("Condition", None)  # kms:ViaService: moto has no via-service calls
        statements.append(st)
    return {"Version": doc.get("Version", "2012-10-17"), "Statement": statements}


def put_policies(moto, role, docs, drop_sid=None):
    iam = client("iam", moto.url)
    with moto.admin():
        for name, doc in docs.items():
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(moto_form(doc, drop_sid)))


def assume(moto, role_arn):
    sts = client("sts", moto.url)
    c = sts.assume_role(RoleArn=role_arn, RoleSessionName="emulated")["Credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}


def resolved_resource_check(docs, allowed):
    """Every Resource of the deployed (resolved) statements is one of `allowed` (the stack's own
    resources' ARNs, or ARNs built from the parameters)."""
    problems = []
    for name, doc in docs.items():
        for st in doc["Statement"]:
            for r in as_list(st["Resource"]):
                if r not in allowed:
                    problems.append(f"{name}/{st.get('Sid')}: {r}")
    return problems


# ------------------------------------------------------------------ cargo-lambda's local runtime

class LambdaRuntime:
    """`cargo lambda watch --release` (the release binary under the local Lambda runtime) with a
    function's environment and its role's credentials."""

    def __init__(self, env, workdir):
        self.port = free_port()
        env_file = workdir / f"lambda-{self.port}.env"
        base = clean_environ()
        keep = {k: v for k, v in env.items() if base.get(k) != v}
        # single-quoted: cargo-lambda's dotenv parser refuses some unquoted session tokens
        env_file.write_text("".join(f"{k}='{v}'\n" for k, v in keep.items() if "\n" not in v and "'" not in v))
        self.log_path = workdir / f"lambda-{self.port}.log"
        path = f"{VENV_BIN}:{os.environ.get('PATH', '')}"
        self.env = dict(base, PATH=path)
        self.proc = subprocess.Popen(
            ["cargo", "lambda", "watch", "--release", "--ignore-changes", "-A", "127.0.0.1", "-P",
             str(self.port), "--env-file", str(env_file)],
            cwd=ROOT, env=self.env, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 180
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"cargo lambda watch did not start; see {self.log_path}")
            time.sleep(0.3)

    def invoke(self, payload):
        proc = subprocess.run(["cargo", "lambda", "invoke", "-A", "127.0.0.1", "-P", str(self.port),
                               "--data-ascii", json.dumps(payload), "cursor-audit-forwarder"],
                              cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300)
        try:
            return proc.returncode, json.loads(proc.stdout.strip())
        except ValueError:
            return proc.returncode, {"error": (proc.stdout + proc.stderr)[-800:]}

    def stop(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)


def http_json(method, url, body=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def es_count(es, stream):
    http_json("POST", f"{es}/{stream}/_refresh")
    status, body = http_json("GET", f"{es}/{stream}/_count")
    return body.get("count", 0) if status == 200 else 0


def gz_lines(events):
    return gzip.compress("".join(json.dumps(e) + "\n" for e in events).encode())


def sqs_batch(messages, queue_arn):
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {k: str(v) for k, v in m.get("Attributes", {}).items()}, "messageAttributes": {},
        "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": REGION} for m in messages]}


def receive_all(sqs, url, key, timeout=20):
    """Messages until one announces `key` (S3's s3:TestEvent messages for each configuration
    change come first; they are part of the batch the function gets, as in AWS)."""
    got, deadline = [], time.time() + timeout
    while key.rsplit("/", 1)[-1] not in json.dumps([m["Body"] for m in got]) and time.time() < deadline:
        got += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   AttributeNames=["All"]).get("Messages", [])
    return got


def expect_denied(name, code, out, err, refusals):
    """The run failed, said why, and moto refused at least one of its requests (HTTP 403)."""
    line = denial_line(err + "\n" + out)
    ok = code != 0 and bool(line) and refusals > 0
    check(name, ok, f"exit {code}, {refusals} refusals: {short(err[-600:] or out[-600:], 600)}")
    line = short(line or (err.strip().splitlines() or [f"exit {code}"])[-1], 260)
    if "unexpected token '<'" in line:
        line += " (moto's AccessDenied is XML, which this JSON-protocol SDK client cannot parse)"
    return f"exit {code}, moto refused {refusals} request(s): {line}"


# ------------------------------------------------------------------ the run

def main():
    WORK.mkdir(parents=True, exist_ok=True)
    es = es_url()
    work = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    use_runtime = os.environ.get("DEPLOY_LAMBDA_RUNTIME", "1") != "0"
    namespace = "deploy" + uuid.uuid4().hex[:8]
    stream = f"logs-cursor.audit-{namespace}"
    bucket, os_bucket, os_dead = f"cursor-audit-{namespace}", f"audit-os-{namespace}", f"dead-os-{namespace}"
    log(f"==> template -> CloudFormation (aws-sam-translator); work dir {work}")
    template, code_zip = package()
    log(f"==> the package: {template} and {code_zip.name}")
    cfn = translate(template)
    count, problems = static_resource_check(cfn)
    check(f"static: every Resource of the {count} policy statements (all conditions) is a stack resource or a parameter",
          not problems, "; ".join(problems))
    managed = sorted({m for r in cfn["Resources"].values() if r["Type"] == "AWS::IAM::Role"
                      for m in re.findall(r"arn:[^\"]*:iam::[^\"]*", json.dumps(r["Properties"].get("ManagedPolicyArns", [])))})
    check(f"static: managed policies only for Lambda in a VPC ({', '.join(managed) or 'none'})",
          all(m.endswith(":iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole") for m in managed), str(managed))

    # moto skips alarms: what they watch, and how they treat missing data, is checked here.
    alarms = {name: r["Properties"] for name, r in cfn["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    silence = {"ApiPollerNoSuccessAlarm": "PollSucceeded", "ApiPollerCheckpointAgeAlarm": "CheckpointAgeSeconds",
               "ApiPollerRetentionLossAlarm": "RetentionLostSeconds", "S3ForwarderFailedObjectsAlarm": "ObjectsFailed"}
    for name, metric in silence.items():
        props = alarms.get(name, {})
        watched = json.dumps(props.get("MetricName") or props.get("Metrics"))
        missing = "notBreaching" if name.startswith("S3") else "breaching"
        check(f"static: {name} watches {metric} with missing data {missing}",
              metric in watched and props.get("TreatMissingData") == missing, json.dumps(props)[:300])
    emitted = set(re.findall(r'\(\s*"([A-Za-z]+)",\s*"(?:Count|Seconds)"',
                             (ROOT / "src" / "telemetry" / "metrics.rs").read_text()))
    check("static: every metric an alarm watches is one the binary emits",
          set(silence.values()) <= emitted, f"emitted: {sorted(emitted)}")

    moto = Moto()
    try:
        run(moto, cfn, es, work, use_runtime, namespace, stream, (bucket, os_bucket, os_dead), code_zip)
    finally:
        moto.stop()


def run(moto, cfn, es, work, use_runtime, namespace, stream, buckets, code_zip):
    bucket, os_bucket, os_dead = buckets
    admin = lambda s: client(s, moto.url)  # noqa: E731
    s3, sm, kms, lam, sqs, ddb = (admin(s) for s in ("s3", "secretsmanager", "kms", "lambda", "sqs", "dynamodb"))

    log("==> what exists before the stack: the audit bucket, a KMS key, the two secrets (encrypted with it)")
    for b in (CODE_BUCKET, bucket, os_bucket, os_dead):
        s3.create_bucket(Bucket=b)
    # scripts/package.sh's zip is the functions' code (an aarch64 binary: it cannot run here, so
    # the functions run the host's release binary below, with the environment and role the
    # stack gave them)
    code = code_zip.read_bytes()
    s3.put_object(Bucket=CODE_BUCKET, Key="bootstrap.zip", Body=code)
    code_sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
    key_arn = kms.create_key(Description="cursor-audit secrets and bucket")["KeyMetadata"]["Arn"]
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}]})
    es_secret = sm.create_secret(Name="cursor-audit/elasticsearch", KmsKeyId=key_arn,
                                 SecretString=json.dumps({"url": es}))["ARN"]
    key_secret = sm.create_secret(Name="cursor-audit/cursor-admin-api-key", KmsKeyId=key_arn,
                                  SecretString=json.dumps({"api_key": API_KEY}))["ARN"]
    # the index templates, as docs/deploy-elastic.md's steps install them (the operator's credentials)
    env = clean_environ()
    code, _, err = run_binary(["setup"], dict(env, ES_URL=es))
    check("setup installs the index templates", code == 0, err[-400:])

    params = {"AuditBucketName": bucket, "ElasticsearchSecretArn": es_secret, "CursorApiKeySecretArn": key_secret,
              "SecretsKmsKeyArn": key_arn, "AuditBucketKmsKeyArn": key_arn, "DataStreamNamespace": namespace,
              "CursorInitialLookback": "2h", "CursorOverlap": "2h", "LogLevel": "info"}
    log(f"==> create stack {STACK} in moto ({moto.url})")
    stack, physical = create_stack(moto, cfn, STACK, params)
    stack_id = stack["StackId"]
    created = {t for t in physical}
    expected = {"CheckpointTable", "S3NotificationQueue", "S3NotificationDeadLetterQueue", "S3ForwarderRole",
                "ApiPollerRole", "BucketNotificationRole", "S3ForwarderFunction", "ApiPollerFunction",
                "BucketNotificationFunction", "S3ForwarderLogGroup", "ApiPollerLogGroup", "BucketNotificationLogGroup",
                "S3ForwarderFunctionAuditObjects", "ApiPollerFunctionPoll", "ApiPollerFunctionPollPermission",
                "BucketNotification"}
    check("moto created the stack's table, queues, roles, log groups, functions, event source mapping, rule, "
          "permission and the custom resource", expected <= created, f"missing {sorted(expected - created)}")

    for function in ("S3ForwarderFunction", "ApiPollerFunction"):
        deployed = lam.get_function_configuration(FunctionName=physical[function])
        check(f"{function} deployed the packaged zip (CodeSha256 of scripts/package.sh's output)",
              deployed["CodeSha256"] == code_sha, f"{deployed['CodeSha256']} != {code_sha}")

    queue_url = physical["S3NotificationQueue"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=physical["S3NotificationDeadLetterQueue"],
                                       AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.loads(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
                         ["Attributes"]["RedrivePolicy"])
    check("the notification queue redrives to the stack's dead-letter queue after MaxReceiveCount",
          redrive["deadLetterTargetArn"] == dlq_arn and int(redrive["maxReceiveCount"]) == 5, str(redrive))
    table_name = physical["CheckpointTable"]
    # the stack's own dead-letter bucket (template.yaml creates one unless DeadLetterBucketName is set;
    # earlier versions used the audit bucket)
    dead_bucket = physical.get("DeadLetterBucket") or bucket
    table_arn = ddb.describe_table(TableName=table_name)["Table"]["TableArn"]
    logs = admin("logs")
    group_arns = {}
    for logical in ("S3ForwarderLogGroup", "ApiPollerLogGroup", "BucketNotificationLogGroup"):
        g = logs.describe_log_groups(logGroupNamePrefix=physical[logical])["logGroups"][0]
        group_arns[logical] = g["arn"].removesuffix(":*")
    iam = admin("iam")
    roles = {r: physical[r] for r in ("S3ForwarderRole", "ApiPollerRole", "BucketNotificationRole")}
    role_arns = {r: iam.get_role(RoleName=n)["Role"]["Arn"] for r, n in roles.items()}
    docs = {r: role_policies(moto, n) for r, n in roles.items()}

    # The deployed (resolved) resources: the stack's own ARNs or ARNs built from the parameters.
    allowed = {table_arn, queue_arn, *group_arns.values(), *(a + ":*" for a in group_arns.values()),
               es_secret, key_secret, key_arn, f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*",
               f"arn:aws:s3:::{bucket}/dead-letter/*", f"arn:aws:s3:::{dead_bucket}",
               f"arn:aws:s3:::{dead_bucket}/dead-letter/*"}
    for r, d in docs.items():
        problems = resolved_resource_check(d, allowed)
        check(f"{r}: every deployed Resource is the stack's own resource or a parameter's", not problems,
              "; ".join(problems))

    for r, name in roles.items():
        put_policies(moto, name, docs[r])
    creds = {r: assume(moto, a) for r, a in role_arns.items()}  # before access control is on
    resolver = Resolver(cfn, {**{k: v.get("Default", "") for k, v in cfn["Parameters"].items()}, **params},
                        physical, {("S3NotificationQueue", "Arn"): queue_arn,
                                   ("BucketNotificationFunction", "Arn"): "unused"})
    properties = resolver.value(cfn["Resources"]["BucketNotification"]["Properties"])
    properties = {k: v if v is not None else "" for k, v in properties.items()}
    moto.auth(True)
    log("==> access control ON")

    # -------------------------------------------------------------- the custom resource
    cr = CustomResource(cfn, moto, stack_id, creds["BucketNotificationRole"], properties)
    put_policies(moto, roles["BucketNotificationRole"], docs["BucketNotificationRole"], "AuditBucketNotificationConfiguration")
    answer = cr.request("Create")
    ok = check("custom resource Create without AuditBucketNotificationConfiguration answers FAILED (AccessDenied)",
               answer["Status"] == "FAILED" and "AccessDenied" in answer.get("Reason", ""), str(answer))
    table.append(("BucketNotificationRole", "AuditBucketNotificationConfiguration",
                  "custom resource Create answered FAILED: " + short(answer.get("Reason", ""), 110) if ok else "NOT SHOWN"))
    put_policies(moto, roles["BucketNotificationRole"], docs["BucketNotificationRole"])
    answer = cr.request("Create")
    check("custom resource Create as BucketNotificationRole answers SUCCESS", answer["Status"] == "SUCCESS", str(answer))
    cr.forward(answer)
    with moto.admin():
        status = admin("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
        conf = s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", [])
    check("the answer on the stack's ResponseURL completes the stack", status == "CREATE_COMPLETE", status)
    ours = [q for q in conf if q.get("Id") == f"{STACK}-cursor-audit-forwarder"]
    check("the audit bucket notifies the stack's queue of ObjectCreated (*.gz)",
          len(ours) == 1 and ours[0]["QueueArn"] == queue_arn and
          {"Name": "suffix", "Value": ".gz"} in [{"Name": r["Name"].lower(), "Value": r["Value"]}
                                                for r in ours[0]["Filter"]["Key"]["FilterRules"]], str(conf))
    updated = dict(properties, Prefix="2026/")
    answer = cr.request("Update", updated, old=properties, physical=answer["PhysicalResourceId"])
    with moto.admin():
        conf = s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", [])
    rules = [{"Name": r["Name"].lower(), "Value": r["Value"]} for q in conf for r in q["Filter"]["Key"]["FilterRules"]]
    check("custom resource Update (Prefix 2026/) answers SUCCESS and replaces its notification",
          answer["Status"] == "SUCCESS" and len(conf) == 1 and {"Name": "prefix", "Value": "2026/"} in rules,
          f"{answer} {conf}")
    cr_physical = answer["PhysicalResourceId"]

    # -------------------------------------------------------------- the S3 forwarder
    fwd_role, fwd_docs, fwd_creds = roles["S3ForwarderRole"], docs["S3ForwarderRole"], creds["S3ForwarderRole"]
    fwd_sqs = client("sqs", moto.url, fwd_creds)
    now = datetime.now(timezone.utc)
    good = [cursor_event(f"s3-{namespace}-{i}", now - timedelta(minutes=i + 1), "add_user",
                         {"user_email": f"u{i}@example.com", "role": "MEMBER"}) for i in range(5)]
    key = f"2026/12/04/cursor-audit-{namespace}.jsonl.gz"
    with moto.admin():  # Cursor's streaming writes the object
        s3.put_object(Bucket=bucket, Key=key, Body=gz_lines(good + [rejected_event(f"s3-{namespace}-bad", now)]))
    with moto.admin():
        fwd_env = function_env(lam, physical["S3ForwarderFunction"], fwd_creds, moto.url)
        poll_env = function_env(lam, physical["ApiPollerFunction"], creds["ApiPollerRole"], moto.url)
    check(f"the forwarder's environment names the stack's table, the ES secret and the dead-letter bucket ({dead_bucket})",
          fwd_env.get("CHECKPOINT_TABLE") == table_name and fwd_env.get("ES_SECRET_ARN") == es_secret
          and fwd_env.get("DEAD_LETTER_BUCKET") == dead_bucket and "ES_URL" not in fwd_env, str(
              {k: v for k, v in fwd_env.items() if k not in clean_environ() and not k.startswith("AWS_")}))

    # the event source mapping polls with the function's role
    put_policies(moto, fwd_role, fwd_docs, "NotificationQueue")
    try:
        fwd_sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        check("without NotificationQueue the role cannot receive the notifications", False, "received")
        table.append(("S3ForwarderRole", "NotificationQueue", "NOT SHOWN"))
    except Exception as e:  # noqa: BLE001
        ok = check("without NotificationQueue the role cannot receive the notifications (AccessDenied)",
                   "AccessDenied" in str(e), str(e))
        code = re.search(r"<Code>([^<]+)</Code>", str(e))
        message = re.search(r"<Message>([^<]+)</Message>", str(e))
        table.append(("S3ForwarderRole", "NotificationQueue",
                      "sqs:ReceiveMessage (the event source mapping's poll, made with the role): HTTP 403 "
                      + (f"{code.group(1)}: {short(message.group(1) if message else '', 120)}" if code else short(str(e), 120))))
    put_policies(moto, fwd_role, fwd_docs)
    messages = receive_all(fwd_sqs, queue_url, key)
    fwd_sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    bodies = [json.loads(m["Body"]) for m in messages]
    notified = [urllib.parse.unquote_plus(r["s3"]["object"]["key"]) for b in bodies for r in b.get("Records", [])]
    tests = [b for b in bodies if b.get("Event") == "s3:TestEvent"]
    check(f"S3 announced the new object on the stack's queue; the role received it (and {len(tests)} s3:TestEvent)",
          notified == [key] and len(tests) + 1 == len(bodies), f"{notified} {str(bodies)[-600:]}")

    if use_runtime:
        runtime = LambdaRuntime(fwd_env, work)
        try:
            code, response = runtime.invoke(sqs_batch(messages, queue_arn))
        finally:
            runtime.stop()
        check("S3 forwarder under the Lambda runtime: batch succeeded", response == {"batchItemFailures": []},
              f"{response} (see {runtime.log_path})")
    else:
        code, out, err = run_binary(["ship", f"s3://{bucket}/{key}"], fwd_env)
        check("S3 forwarder (CLI ship) succeeded", code == 0, err[-600:])
    for m in messages:  # as the event source mapping does after a successful batch
        fwd_sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    check(f"{len(good)} documents in {stream}", es_count(es, stream) == len(good), str(es_count(es, stream)))
    with moto.admin():
        dead = s3.list_objects_v2(Bucket=dead_bucket, Prefix="dead-letter/").get("Contents", [])
        items = ddb.scan(TableName=table_name)["Items"]
    check(f"the rejected document is a dead letter under dead-letter/ in {dead_bucket}", len(dead) == 1, str(dead))
    check("the object's progress is in the stack's table", any(key in json.dumps(i) for i in items), str(items)[:300])

    # the other statements, one at a time, with the CLI (`ship s3://bucket/key`, the same code path)
    def s3_object(tag, rejected=False):
        k = f"2026/12/04/cursor-audit-{namespace}-{tag}.jsonl.gz"
        events = [cursor_event(f"s3-{namespace}-{tag}", datetime.now(timezone.utc), "add_user", {"role": "MEMBER"})]
        if rejected:
            events.append(rejected_event(f"s3-{namespace}-{tag}-bad", datetime.now(timezone.utc)))
        with moto.admin():
            s3.put_object(Bucket=bucket, Key=k, Body=gz_lines(events))
        return k

    for sid, rejected, what in (("ReadAuditObjects", False, "s3:GetObject"),
                                ("WriteDeadLetters", True, "s3:PutObject of the dead letter"),
                                ("ObjectProgress", False, "dynamodb (progress)"),
                                ("ElasticsearchSecret", False, "secretsmanager:GetSecretValue")):
        k = s3_object(sid, rejected)
        put_policies(moto, fwd_role, fwd_docs, sid)
        before_refusals = moto.refusals()
        code, out, err = run_binary(["ship", f"s3://{bucket}/{k}"], fwd_env)
        line = expect_denied(f"S3 forwarder without {sid} fails ({what} refused)", code, out, err,
                             moto.refusals() - before_refusals)
        table.append(("S3ForwarderRole", sid, f"ship s3://…/{sid}: {line}"))
        put_policies(moto, fwd_role, fwd_docs)
        code, out, err = run_binary(["ship", f"s3://{bucket}/{k}"], fwd_env)
        check(f"… and succeeds with {sid} back", code == 0, err[-600:])
    code, out, err = run_binary(["ship", f"s3://{bucket}/2026/12/"], fwd_env)
    check("the forwarder role cannot list the bucket (no s3:ListBucket): ship s3://bucket/prefix/ is refused",
          code != 0 and "AccessDenied" in (out + err), err[-400:])

    # -------------------------------------------------------------- the poller
    poll_role, poll_docs = roles["ApiPollerRole"], docs["ApiPollerRole"]
    api_events = [cursor_event(f"api-{namespace}-{i}", now - timedelta(minutes=5 * i + 1),
                               ["login", "add_user", "team_settings"][i % 3]) for i in range(6)]
    api = FakeCursor(API_KEY, api_events + [rejected_event(f"api-{namespace}-bad", now - timedelta(minutes=3))])
    poll_env["CURSOR_API_URL"] = api.url
    check("the poller's environment names the stack's table and both secrets",
          poll_env.get("CHECKPOINT_TABLE") == table_name and poll_env.get("ES_SECRET_ARN") == es_secret
          and poll_env.get("CURSOR_API_KEY_SECRET_ARN") == key_secret, "")
    before = es_count(es, stream)
    with moto.admin():
        dead_before = len(s3.list_objects_v2(Bucket=dead_bucket, Prefix="dead-letter/").get("Contents", []))
    if use_runtime:
        runtime = LambdaRuntime(poll_env, work)
        try:
            code, response = runtime.invoke({"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                                             "source": "aws.events", "account": ACCOUNT,
                                             "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
                                             "resources": [], "detail": {}})
        finally:
            runtime.stop()
        check("poller under the Lambda runtime (scheduled event) caught up", response.get("outcome") == "caught_up"
              and response.get("indexed") == len(api_events), f"{response} (see {runtime.log_path})")
    else:
        code, out, err = run_binary(["poll", "--once"], poll_env)
        check("poller (CLI poll --once) succeeded", code == 0, err[-600:])
    check(f"{len(api_events)} more documents in {stream}", es_count(es, stream) == before + len(api_events),
          str(es_count(es, stream) - before))
    with moto.admin():
        dead = s3.list_objects_v2(Bucket=dead_bucket, Prefix="dead-letter/").get("Contents", [])
        items = ddb.scan(TableName=table_name)["Items"]
    check("the poller's rejected document is a dead letter too", len(dead) == dead_before + 1,
          f"{dead_before} before: {[d['Key'] for d in dead]}")
    check("the poll checkpoint is in the stack's table", len(items) >= 2, str(items)[:300])

    for sid, what in (("Secrets", "secretsmanager:GetSecretValue"), ("CheckpointAndLease", "dynamodb"),
                      ("WriteDeadLetters", "s3:PutObject")):
        put_policies(moto, poll_role, poll_docs, sid)
        before_refusals = moto.refusals()
        code, out, err = run_binary(["poll", "--once"], poll_env)
        line = expect_denied(f"poller without {sid} fails ({what} refused)", code, out, err,
                             moto.refusals() - before_refusals)
        table.append(("ApiPollerRole", sid, f"poll --once: {line}" + (
            " (the statement covers both secrets; moto cannot tell them apart, see the resource checks)"
            if sid == "Secrets" else "")))
        put_policies(moto, poll_role, poll_docs)
        code, out, err = run_binary(["poll", "--once"], poll_env)
        check(f"… and succeeds with {sid} back", code == 0, err[-600:])

    # statements nothing in moto can exercise: CloudWatch Logs (written by the Lambda service, never
    # by the binary) and KMS via S3 / Secrets Manager (moto calls no KMS for them)
    for r, d in docs.items():
        for st in (st for doc in d.values() for st in doc["Statement"]):
            if st.get("Sid") in ("Logs", "SecretsKey", "AuditBucketKey", "DeadLetterBucketKey", "GeoIpKey"):
                table.append((r, st["Sid"], "not exercisable in moto (" + (
                    "the Lambda service writes the logs" if st["Sid"] == "Logs" else "moto decrypts without KMS")
                    + "); Resource checked statically: " + ", ".join(as_list(st["Resource"]))))

    every = {(r, st.get("Sid")) for r, d in docs.items() for doc in d.values() for st in doc["Statement"]}
    listed = {(r, sid) for r, sid, _ in table}
    check(f"the table covers all {len(every)} statements the stack deployed", every <= listed,
          f"missing {sorted(every - listed)}")

    # -------------------------------------------------------------- the custom resource's Delete
    answer = cr.request("Delete", updated, physical=cr_physical)
    with moto.admin():
        conf = s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", [])
    check("custom resource Delete answers SUCCESS and removes its notification", answer["Status"] == "SUCCESS"
          and not conf, f"{answer} {conf}")
    answer = cr.request("Delete", updated, physical=cr_physical)
    check("… and a second Delete (nothing left) answers SUCCESS too", answer["Status"] == "SUCCESS", str(answer))

    # -------------------------------------------------------------- the OpenSearch-domain variant
    domain = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/audit-logs"
    endpoint = "https://search-audit-logs-abc123.us-east-1.es.amazonaws.com"
    os_params = {"AuditBucketName": os_bucket, "OpenSearchDomainArn": domain, "OpenSearchEndpoint": endpoint,
                 "CursorApiKeySecretArn": key_secret, "DeadLetterBucketName": os_dead,
                 "DataStreamNamespace": namespace}
    with moto.admin():
        _, os_physical = create_stack(moto, cfn, OS_STACK, os_params)
        os_fwd = lam.get_function_configuration(FunctionName=os_physical["S3ForwarderFunction"])["Environment"]["Variables"]
        os_docs = {r: role_policies(moto, os_physical[r]) for r in ("S3ForwarderRole", "ApiPollerRole")}
        os_table = ddb.describe_table(TableName=os_physical["CheckpointTable"])["Table"]["TableArn"]
        os_queue = sqs.get_queue_attributes(QueueUrl=os_physical["S3NotificationQueue"],
                                            AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        os_groups = [logs.describe_log_groups(logGroupNamePrefix=os_physical[g])["logGroups"][0]["arn"]
                     for g in ("S3ForwarderLogGroup", "ApiPollerLogGroup")]
    check("OpenSearch variant: the forwarder signs for the domain endpoint, no ES secret",
          os_fwd.get("ES_URL") == endpoint and os_fwd.get("ES_AWS_SIGV4") == "true" and not os_fwd.get("ES_SECRET_ARN")
          and os_fwd.get("DEAD_LETTER_BUCKET") == os_dead, str(os_fwd))
    os_allowed = {os_table, os_queue, *(g.removesuffix(":*") for g in os_groups), key_secret, domain, domain + "/*",
                  f"arn:aws:s3:::{os_bucket}/*", f"arn:aws:s3:::{os_dead}/dead-letter/*"}
    for r, d in os_docs.items():
        sids = [s.get("Sid") for doc in d.values() for s in doc["Statement"]]
        problems = resolved_resource_check(d, os_allowed)
        check(f"OpenSearch variant {r}: statements {sids}, every Resource the stack's or a parameter's",
              "OpenSearchDomain" in sids and "ElasticsearchSecret" not in sids and not problems, "; ".join(problems))
        for doc in d.values():
            for st in doc["Statement"]:
                if st.get("Sid") == "OpenSearchDomain":
                    table.append((f"{r} (OpenSearch variant)", "OpenSearchDomain",
                                  "not exercisable in moto (the domain is not emulated; SigV4 signing is tested by "
                                  "tests/sigv4.rs); Resource checked: " + ", ".join(as_list(st["Resource"]))))

    # -------------------------------------------------------------- the teams variant
    teams_variant(moto, cfn, es, namespace, es_secret)


def teams_variant(moto, cfn, es, namespace, es_secret):
    """A Cursor Organization (docs/teams.md): the team list in a secret, each team's key in its
    own; the poller polls both teams under its role, the forwarder routes S3 records by team_id
    under its role, and each role may read exactly the secrets it needs."""
    admin = lambda s: client(s, moto.url)  # noqa: E731
    s3, sm, lam = admin("s3"), admin("secretsmanager"), admin("lambda")
    bucket = f"audit-teams-{namespace}"
    streams = {t: f"logs-cursor.audit-{namespace}{t}" for t in ("eng", "ops")}
    with moto.admin():
        s3.create_bucket(Bucket=bucket)
        keys = {t: sm.create_secret(Name=f"cursor-audit/teams/{t}", SecretString=API_KEY)["ARN"] for t in streams}
        teams = [{"name": "eng", "api_key_secret_arn": keys["eng"], "namespace": namespace + "eng",
                  "tags": ["cursor-eng"], "team_id": "555"},
                 {"name": "ops", "api_key_secret_arn": keys["ops"], "namespace": namespace + "ops"}]
        teams_secret = sm.create_secret(Name="cursor-audit/teams", SecretString=json.dumps(teams))["ARN"]
        params = {"AuditBucketName": bucket, "ElasticsearchSecretArn": es_secret, "CursorTeamsSecretArn": teams_secret,
                  "CursorTeamKeySecretArns": ",".join(keys.values()), "DataStreamNamespace": namespace}
        _, physical = create_stack(moto, cfn, TEAMS_STACK, params)
        roles = {r: physical[r] for r in ("S3ForwarderRole", "ApiPollerRole")}
        docs = {r: role_policies(moto, n) for r, n in roles.items()}
        iam = admin("iam")
        creds = {r: assume(moto, iam.get_role(RoleName=n)["Role"]["Arn"]) for r, n in roles.items()}
        for r, n in roles.items():
            put_policies(moto, n, docs[r])
        fwd_env = function_env(lam, physical["S3ForwarderFunction"], creds["S3ForwarderRole"], moto.url)
        poll_env = function_env(lam, physical["ApiPollerFunction"], creds["ApiPollerRole"], moto.url)

    def secrets_of(role):
        return {r for doc in docs[role].values() for st in doc["Statement"]
                if "secretsmanager:GetSecretValue" in as_list(st["Action"]) for r in as_list(st["Resource"])}
    check("teams variant: the poller may read the cluster's secret, the team list and exactly the teams' key secrets",
          secrets_of("ApiPollerRole") == {es_secret, teams_secret, *keys.values()}, str(secrets_of("ApiPollerRole")))
    check("teams variant: the forwarder may read the cluster's secret and the team list, no key",
          secrets_of("S3ForwarderRole") == {es_secret, teams_secret}, str(secrets_of("S3ForwarderRole")))
    check("teams variant: both functions get CURSOR_TEAMS_SECRET_ARN, the poller no single key",
          fwd_env.get("CURSOR_TEAMS_SECRET_ARN") == teams_secret == poll_env.get("CURSOR_TEAMS_SECRET_ARN")
          and not poll_env.get("CURSOR_API_KEY_SECRET_ARN"), "")
    for role in roles:
        for doc in docs[role].values():
            for st in doc["Statement"]:
                if st.get("Sid") in ("TeamKeySecrets", "TeamsSecret"):
                    table.append((f"{role} (teams variant)", st["Sid"],
                                  "not separable in moto (it authorizes Secrets Manager against \"*\"); Resource "
                                  "checked: " + ", ".join(as_list(st["Resource"]))))

    now = datetime.now(timezone.utc)
    events = [cursor_event(f"teams-{namespace}-{i}", now - timedelta(minutes=i + 1), "add_user",
                           {"user_email": f"t{i}@example.com", "role": "MEMBER"}) for i in range(3)]
    api = FakeCursor(API_KEY, events)
    poll_env["CURSOR_API_URL"] = api.url
    code, out, err = run_binary(["poll", "--once"], poll_env)
    check("teams variant: poll --once as the poller role polls both teams", code == 0, err[-600:])
    check("teams variant: each team's events in its own data stream",
          all(es_count(es, s) == len(events) for s in streams.values()),
          str({t: es_count(es, s) for t, s in streams.items()}))

    key = "2026/12/04/two-teams.jsonl.gz"
    when = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    records = [{"metadata": {"id": f"teams-s3-{namespace}-eng", "timestamp": when}, "team_id": "555",
                "ip_address": "192.0.2.10", "user_email": "admin@example.com", "logout": {}},
               {"metadata": {"id": f"teams-s3-{namespace}-other", "timestamp": when}, "team_id": "777",
                "ip_address": "192.0.2.10", "user_email": "admin@example.com", "logout": {}}]
    with moto.admin():
        s3.put_object(Bucket=bucket, Key=key, Body=gz_lines(records))
    home = f"logs-cursor.audit-{namespace}"
    home_before = es_count(es, home)
    code, out, err = run_binary(["ship", f"s3://{bucket}/{key}"], fwd_env)
    http_json("POST", f"{es}/{streams['eng']}/_refresh")
    _, eng = http_json("GET", f"{es}/{streams['eng']}/_search?q=event.action:logout&size=5")
    tags = [h["_source"].get("tags") for h in eng.get("hits", {}).get("hits", [])]
    check("teams variant: the forwarder role ships an object of two teams: team_id 555 to eng (with its tag), "
          "the unlisted one to the deployment's namespace",
          code == 0 and len(tags) == 1 and "cursor-eng" in tags[0]
          and es_count(es, home) == home_before + 1, f"{err[-400:]} eng tags {tags}, {home}: {es_count(es, home)}")


def report():
    log("\n### Policy statements: what fails without each\n")
    log("| role | statement | without it |")
    log("|---|---|---|")
    for role, sid, what in table:
        log(f"| {role} | {sid} | {what.replace('|', '/')} |")
    log(f"\nemulated deployment in {time.time() - started:.0f} s")
    log(f"deploy: {passed} passed, {failed} failed")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        check("the harness ran to the end", False, f"{type(e).__name__}: {e}")
    report()
    sys.exit(1 if failed else 0)
