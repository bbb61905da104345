"""The deployment descriptions: a SAM template (zip or image) and deploy.sh, the same deployment with the aws CLI."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wrapper.config.schema import WrapperConfig
from wrapper.packaging.target import Target

MAX_TIMEOUT_S = 900
DEFAULT_MEMORY_MB = 256  # CPU scales with memory; 128 MB makes every spawn and cold start slower
EXEC_WRAPPER = "/var/task/bootstrap"
GENERIC_STEMS = ("wrapper", "config", "function", "lambda")
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@dataclass(frozen=True)
class FunctionSpec:
    """What both descriptions say about the function."""

    name: str  # function name for the aws CLI (SAM lets CloudFormation name it)
    handler: str  # the config's file name
    target: Target
    timeout_s: int
    memory_mb: int = DEFAULT_MEMORY_MB
    token_env: str | None = None  # the config's auth.bearer_token_env: a variable the function must be given
    invoke_mode: str = "BUFFERED"  # the Function URL's: RESPONSE_STREAM for output.streaming configs


def function_name(config_path: Path) -> str:
    """A Lambda function name from the config's file name (echo.yaml → echo), or its directory's for generic names."""
    stem = config_path.stem if config_path.suffix in (".yaml", ".yml") else config_path.name
    if stem in GENERIC_STEMS and config_path.resolve().parent.name:
        stem = config_path.resolve().parent.name  # examples/blackbox-exporter/wrapper.yaml → blackbox-exporter
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)[:64] or "wrapper"


def function_timeout_s(config: WrapperConfig) -> int:
    """Lambda's Timeout: the config's limit plus its deadline margin and a second, so wrapper's own timeout wins."""
    return min(MAX_TIMEOUT_S, math.ceil(config.timeout_s + config.deadline_margin_s + 1.0))


def render_template(
    spec: FunctionSpec, *, package_type: Literal["zip", "image"], code_uri: str = "function.zip"
) -> str:
    """template.yaml for `sam deploy`: the function, an optional Function URL and an optional schedule."""
    token_variable = f"          {spec.token_env}: !Ref BearerToken\n" if spec.token_env else ""
    token_parameter = (
        (
            "  BearerToken:\n    Type: String\n    NoEcho: true\n    MinLength: 16\n"
            f"    Description: {json.dumps(f'The value of {spec.token_env} (auth.bearer_token_env): HTTP callers send Authorization: Bearer <it>')}\n"
        )
        if spec.token_env
        else ""
    )
    if package_type == "zip":
        header = (
            f"# Built by `wrapper package` from {spec.handler}. Deploy from this directory with `sam deploy --guided`;\n"
            "# no `sam build`: function.zip already holds wrapper, its dependencies and the program.\n"
        )
        code = (
            f"      Runtime: {spec.target.runtime}\n"
            f"      Handler: {spec.handler}\n"
            f"      CodeUri: {code_uri}\n"
            "      Environment:\n"
            "        Variables:\n"
            "          # the managed runtime starts bootstrap instead of its own loop; bootstrap runs `wrapper run`\n"
            f"          AWS_LAMBDA_EXEC_WRAPPER: {EXEC_WRAPPER}\n" + token_variable
        )
        metadata = ""
    else:
        header = (
            f"# Built by `wrapper package` from {spec.handler}. Deploy from this directory with `sam build` (builds the image\n"
            "# with Docker) and `sam deploy --guided --resolve-image-repos` (creates the ECR repository and pushes).\n"
        )
        code = "      PackageType: Image\n" + (
            "      Environment:\n        Variables:\n" + token_variable if spec.token_env else ""
        )
        metadata = f"    Metadata:\n      Dockerfile: Dockerfile\n      DockerContext: .\n      DockerTag: {spec.target.python_version}-{spec.target.arch}\n"
    description = json.dumps(f"{spec.name}: {spec.handler} run by wrapper")  # a JSON string is a valid YAML scalar
    return f"""\
{header}# Parameters choose the memory, an optional Function URL and an optional schedule (EventBridge rule).
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: {description}

Parameters:
  MemorySize:
    Type: Number
    Default: {spec.memory_mb}
    MinValue: 128
    MaxValue: 10240
    Description: Memory in MB; CPU grows with it
  FunctionUrlAuthType:
    Type: String
    Default: NO_URL
    AllowedValues: [NO_URL, AWS_IAM, NONE]
    Description: "NO_URL: no Function URL. AWS_IAM: callers sign requests (SigV4). NONE: public; set auth.bearer_token_env in the config"
  ScheduleExpression:
    Type: String
    Default: ""
    Description: "rate(5 minutes), cron(0 * * * ? *), ...; empty: no schedule"
  ScheduleInput:
    Type: String
    Default: "{{}}"
    Description: The event (JSON) each scheduled invocation receives
{token_parameter}
Conditions:
  HasUrl: !Not [!Equals [!Ref FunctionUrlAuthType, NO_URL]]
  PublicUrl: !Equals [!Ref FunctionUrlAuthType, NONE]
  HasSchedule: !Not [!Equals [!Ref ScheduleExpression, ""]]

Resources:
  Function:
    Type: AWS::Serverless::Function
    Properties:
{code}      Architectures: [{spec.target.arch}]
      # the config's timeout_s + deadline_margin_s, rounded up, + 1 s: wrapper reports a structured Function.Timeout first
      Timeout: {spec.timeout_s}
      MemorySize: !Ref MemorySize
{metadata}
  FunctionUrl:
    Type: AWS::Lambda::Url
    Condition: HasUrl
    Properties:
      TargetFunctionArn: !GetAtt Function.Arn
      AuthType: !Ref FunctionUrlAuthType
      # RESPONSE_STREAM for a config with output.streaming: a buffered URL cannot read a streamed answer
      InvokeMode: {spec.invoke_mode}

  # A public URL needs both permissions since October 2025: InvokeFunctionUrl, and InvokeFunction via the URL.
  FunctionUrlPublicPermission:
    Type: AWS::Lambda::Permission
    Condition: PublicUrl
    Properties:
      Action: lambda:InvokeFunctionUrl
      FunctionName: !Ref Function
      Principal: "*"
      FunctionUrlAuthType: NONE
  FunctionUrlPublicInvokePermission:
    Type: AWS::Lambda::Permission
    Condition: PublicUrl
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref Function
      Principal: "*"
      InvokedViaFunctionUrl: true

  Schedule:
    Type: AWS::Events::Rule
    Condition: HasSchedule
    Properties:
      ScheduleExpression: !Ref ScheduleExpression
      Targets:
        - Id: function
          Arn: !GetAtt Function.Arn
          Input: !Ref ScheduleInput
  SchedulePermission:
    Type: AWS::Lambda::Permission
    Condition: HasSchedule
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref Function
      Principal: events.amazonaws.com
      SourceArn: !GetAtt Schedule.Arn

Outputs:
  FunctionName:
    Value: !Ref Function
  FunctionUrl:
    Condition: HasUrl
    Value: !GetAtt FunctionUrl.FunctionUrl
"""


def deploy_steps(spec: FunctionSpec, *, via_s3: bool) -> dict[str, list[str]]:
    """The aws CLI commands per step (create, update, invoke, logs, delete), as sh lines using $FUNCTION and $ROLE."""
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        },
        separators=(",", ":"),
    )
    upload = (
        [
            'aws s3 cp function.zip "s3://${BUCKET:?set BUCKET to an S3 bucket: function.zip is over 50 MB}/$FUNCTION/function.zip"'
        ]
        if via_s3
        else []
    )
    code = '--code "S3Bucket=$BUCKET,S3Key=$FUNCTION/function.zip"' if via_s3 else "--zip-file fileb://function.zip"
    token = (
        f",{spec.token_env}=${{{spec.token_env}:?set {spec.token_env} to the bearer token HTTP callers must send}}"
        if spec.token_env
        else ""
    )
    new_code = (
        '--s3-bucket "$BUCKET" --s3-key "$FUNCTION/function.zip"' if via_s3 else "--zip-file fileb://function.zip"
    )
    return {
        "create": [
            f"aws iam create-role --role-name \"$ROLE\" --assume-role-policy-document '{trust}'",
            f'aws iam attach-role-policy --role-name "$ROLE" --policy-arn {BASIC_EXECUTION_POLICY}',
            "sleep 10  # a new role takes a few seconds before Lambda may assume it",
            *upload,
            (
                'aws lambda create-function --function-name "$FUNCTION" \\\n'
                f"    --runtime {spec.target.runtime} --handler {spec.handler} --architectures {spec.target.arch} \\\n"
                f"    --timeout {spec.timeout_s} --memory-size {spec.memory_mb} \\\n"
                f'    --environment "Variables={{AWS_LAMBDA_EXEC_WRAPPER={EXEC_WRAPPER}{token}}}" \\\n'
                '    --role "$(aws iam get-role --role-name "$ROLE" --query Role.Arn --output text)" \\\n'
                f"    {code}"
            ),
            'aws lambda wait function-active-v2 --function-name "$FUNCTION"',
        ],
        "update": [
            *upload,
            f'aws lambda update-function-code --function-name "$FUNCTION" {new_code}',
            'aws lambda wait function-updated-v2 --function-name "$FUNCTION"',
        ],
        "invoke": [
            'aws lambda invoke --function-name "$FUNCTION" --cli-binary-format raw-in-base64-out --payload "$PAYLOAD" response.json',
            "cat response.json; echo",
        ],
        "logs": ['aws logs tail "/aws/lambda/$FUNCTION" --follow'],
        "delete": [
            'aws lambda delete-function --function-name "$FUNCTION"',
            f'aws iam detach-role-policy --role-name "$ROLE" --policy-arn {BASIC_EXECUTION_POLICY}',
            'aws iam delete-role --role-name "$ROLE"',
        ],
    }


def render_deploy_script(spec: FunctionSpec, *, via_s3: bool) -> str:
    """deploy.sh: `./deploy.sh create|update|invoke [EVENT]|logs|delete` with the aws CLI, no SAM."""
    steps = deploy_steps(spec, via_s3=via_s3)

    cases = "".join(
        f"{step})\n" + "".join(f"    {line.replace(chr(10), chr(10) + '    ')}\n" for line in lines) + "    ;;\n"
        for step, lines in steps.items()
    )
    return f"""\
#!/bin/sh
# Deploy {spec.handler} with the aws CLI, without SAM. Run from this directory:
#   ./deploy.sh create           an IAM role (AWSLambdaBasicExecutionRole: logs only) and the function
#   ./deploy.sh update           upload a rebuilt function.zip
#   ./deploy.sh invoke [EVENT]   invoke once with EVENT (JSON, default {{}}) and print the response
#   ./deploy.sh logs             follow the function's CloudWatch logs
#   ./deploy.sh delete           the function, then the role
# FUNCTION and ROLE may be set in the environment; the region is the aws CLI's (AWS_REGION or the profile).
set -eu
cd "$(dirname "$0")"
FUNCTION="${{FUNCTION:-{spec.name}}}"
ROLE="${{ROLE:-{spec.name}-lambda}}"
PAYLOAD=${{2:-'{{}}'}}

case "${{1:-}}" in
{cases}*)
    sed -n '2,8p' "$0"
    exit 2
    ;;
esac
"""


def next_commands(spec: FunctionSpec, out_dir: str, *, via_s3: bool) -> str:
    """What to run after `wrapper package`: deploy.sh's create, invoke and logs (deploy.sh holds the aws commands)."""
    settings = " BUCKET=your-bucket" if via_s3 else ""
    settings += f" {spec.token_env}=your-secret-token" if spec.token_env else ""
    return "\n".join([
        f"  cd {out_dir}",
        f"  {settings.strip() + ' ' if settings else ''}./deploy.sh create   # an IAM role, then the function",
        "  ./deploy.sh invoke '{}'   # the response, as `wrapper invoke` prints it",
        "  ./deploy.sh logs          # follow its CloudWatch logs; later: ./deploy.sh update | delete",
    ])
